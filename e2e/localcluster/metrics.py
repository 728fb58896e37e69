"""The metrics pipeline an autoscaler reads, for the local cluster: metrics-server behind
metrics.k8s.io (the pods' CPU, for an autoscaling cpuUtilization target) and prometheus-adapter
behind custom.metrics.k8s.io (the serving pods' requests per second and in flight, from the
local Prometheus, for the per-pod targets).

Both are reached through the API server's aggregation layer, which the local cluster's API
server does not yet have: it needs a front-proxy CA and client certificate (`pki.py` makes
neither) and the flags of `aggregation_apiserver_flags`. Neither is started by the cluster
yet; what follows are the pieces, built by e2e/cluster/build-metrics-server.sh and
build-prometheus-adapter.sh, each meant to run in its own image (images/<name>/Containerfile,
a static binary alone, as Prometheus and CoreDNS run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster.addons import RESTRICTED_CONTAINER, pod_security
from e2e.localcluster.prometheus import PROMETHEUS_NAMESPACE, PROMETHEUS_PORT

Manifest = dict[str, Any]

METRICS_NAMESPACE = "kube-system"
METRICS_SERVER_PORT = 10250
ADAPTER_NAMESPACE = PROMETHEUS_NAMESPACE
ADAPTER_PORT = 6443
# What the serving image exports, and the per-pod metrics the operator's autoscalers name
# (api/spec.py: REQUESTS_PER_SECOND_METRIC, REQUESTS_IN_FLIGHT_METRIC).
SERVING_REQUESTS = "modeldeploy_serving_requests_total"
SERVING_IN_FLIGHT = "modeldeploy_serving_requests_in_flight"
RATE_WINDOW = "1m"


def aggregation_apiserver_flags(
    front_proxy_ca: Path, proxy_client_cert: Path, proxy_client_key: Path
) -> list[str]:
    """What kube-apiserver needs to serve aggregated APIs: it proves who asks to the servers
    behind it with the proxy client certificate, which they check against the front-proxy CA
    (read from the extension-apiserver-authentication ConfigMap it publishes)."""
    return [
        f"--requestheader-client-ca-file={front_proxy_ca}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={proxy_client_cert}",
        f"--proxy-client-key-file={proxy_client_key}",
        # The API server reaches the aggregated servers at their Service's ClusterIP, which
        # it can only when it runs where kube-proxy's rules apply; off the node, at the pods.
        "--enable-aggregator-routing=true",
    ]


def api_service(group: str, version: str, namespace: str, service: str) -> Manifest:
    # insecureSkipTLSVerify: each server makes its own serving certificate when it starts; a
    # caBundle would need one made ahead, by pki.py.
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": f"{version}.{group}"},
        "spec": {
            "group": group,
            "version": version,
            "service": {"name": service, "namespace": namespace, "port": 443},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


def _reader_rbac(name: str, namespace: str, rules: list[Manifest]) -> list[Manifest]:
    """A ServiceAccount with `rules` cluster-wide, allowed to check who calls it (delegated
    authentication and authorization, as every aggregated server does)."""
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"modeldeploy-local-{name}"},
            "rules": rules,
        },
        *(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"modeldeploy-local-{name}-{role.split(':')[-1]}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": subject,
            }
            for role in (f"modeldeploy-local-{name}", "system:auth-delegator")
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": f"modeldeploy-local-{name}-auth-reader",
                "namespace": "kube-system",
            },
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": subject,
        },
    ]


def _server(
    name: str, namespace: str, image: str, args: list[str], port: int, volumes: list[Manifest]
) -> list[Manifest]:
    labels = {"app": name}
    mounts = [{"name": v["name"], "mountPath": f"/etc/{v['name']}"} for v in volumes]
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "securityContext": pod_security(65534),
                        "containers": [
                            {
                                "name": name,
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": args,
                                "ports": [{"name": "https", "containerPort": port}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/readyz", "port": port, "scheme": "HTTPS"},
                                    "periodSeconds": 2,
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [
                                    *mounts,
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                            }
                        ],
                        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": labels,
                "ports": [{"name": "https", "port": 443, "targetPort": port}],
            },
        },
    ]


def metrics_server_manifests(image: str, kubelet_ca_config_map: str) -> list[Manifest]:
    """metrics-server in kube-system, reading the kubelets' resource metrics, registered as
    v1beta1.metrics.k8s.io. `kubelet_ca_config_map` holds ca.crt, the cluster CA that issued
    the kubelet's serving certificate (pki.kubelet_serving): the kubelet needs no new flag,
    it serves /metrics/resource on its port already, and metrics-server verifies it rather
    than skip TLS verification."""
    ns = METRICS_NAMESPACE
    rules = [
        {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
    ]
    args = [
        f"--secure-port={METRICS_SERVER_PORT}",
        "--cert-dir=/tmp",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-certificate-authority=/etc/kubelet-ca/ca.crt",
        "--metric-resolution=15s",
    ]
    volumes = [{"name": "kubelet-ca", "configMap": {"name": kubelet_ca_config_map}}]
    return [
        *_reader_rbac("metrics-server", ns, rules),
        *_server("metrics-server", ns, image, args, METRICS_SERVER_PORT, volumes),
        api_service("metrics.k8s.io", "v1beta1", ns, "metrics-server"),
    ]


def adapter_rules() -> dict[str, Any]:
    """prometheus-adapter's rules: the serving pods' series, by their namespace and pod labels
    (the local Prometheus sets both), as the per-pod metrics an autoscaler names."""

    def resources() -> dict[str, Any]:
        return {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}

    return {
        "rules": [
            {
                "seriesQuery": f'{SERVING_REQUESTS}{{namespace!="",pod!="",operation="infer"}}',
                "resources": resources(),
                "name": {
                    "matches": f"^{SERVING_REQUESTS}$",
                    "as": "modeldeploy_serving_requests_per_second",
                },
                "metricsQuery": (
                    f'sum(rate(<<.Series>>{{<<.LabelMatchers>>,operation="infer"}}[{RATE_WINDOW}]))'
                    " by (<<.GroupBy>>)"
                ),
            },
            {
                "seriesQuery": f'{SERVING_IN_FLIGHT}{{namespace!="",pod!=""}}',
                "resources": resources(),
                "name": {"matches": f"^{SERVING_IN_FLIGHT}$", "as": SERVING_IN_FLIGHT},
                "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            },
        ]
    }


def prometheus_adapter_manifests(image: str) -> list[Manifest]:
    """prometheus-adapter beside the local Prometheus, registered as
    v1beta1.custom.metrics.k8s.io."""
    ns = ADAPTER_NAMESPACE
    rules = [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]},
    ]
    args = [
        f"--secure-port={ADAPTER_PORT}",
        "--cert-dir=/tmp",
        f"--prometheus-url=http://prometheus.{PROMETHEUS_NAMESPACE}.svc:{PROMETHEUS_PORT}/",
        "--metrics-relist-interval=30s",
        "--config=/etc/adapter-config/config.yaml",
    ]
    volumes = [{"name": "adapter-config", "configMap": {"name": "prometheus-adapter"}}]
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "prometheus-adapter", "namespace": ns},
        "data": {"config.yaml": yaml.safe_dump(adapter_rules(), sort_keys=False)},
    }
    return [
        *_reader_rbac("prometheus-adapter", ns, rules),
        config,
        *_server("prometheus-adapter", ns, image, args, ADAPTER_PORT, volumes),
        api_service("custom.metrics.k8s.io", "v1beta1", ns, "prometheus-adapter"),
    ]
