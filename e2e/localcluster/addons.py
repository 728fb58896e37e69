"""What the local cluster runs in itself besides Prometheus: CoreDNS, and a model store.

CoreDNS answers for Services and pods under cluster.local and forwards nothing, so no lookup
leaves the cluster. The model store is an S3-compatible server (moto's) in the namespace
`model-store`, reachable in the cluster as http://s3.model-store.svc.cluster.local:9000 and
from the host through a forwarder; `make demo` and the scenarios put their models there.
Buckets are private unless a bucket policy opens them: an unsigned request reads only what a
policy makes public. (The store does not verify signatures: moto's IAM checks, once on, refuse
unsigned requests even to public objects.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e.localcluster.rest import insecure_get, wait_for

DNS_SERVICE_IP = "10.0.0.10"
MODEL_STORE_NAMESPACE = "model-store"
MODEL_STORE_SERVICE_IP = "10.0.0.91"
MODEL_STORE_PORT = 9000
MODEL_STORE_URL = f"http://s3.{MODEL_STORE_NAMESPACE}.svc.cluster.local:{MODEL_STORE_PORT}"

COREFILE = """\
.:1053 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
"""

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def coredns_manifests(image: str) -> list[dict[str, Any]]:
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": ns},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", "namespace": ns},
            "data": {"Corefile": COREFILE},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        # CoreDNS itself must not ask CoreDNS.
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "terminationGracePeriodSeconds": 2,
                        "securityContext": pod_security(65534),
                        "containers": [
                            {
                                "name": "coredns",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 1,
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
                ],
            },
        },
    ]


def model_store_manifests(image: str) -> list[dict[str, Any]]:
    ns = MODEL_STORE_NAMESPACE
    labels = {"app.kubernetes.io/name": "model-store"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "s3", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "terminationGracePeriodSeconds": 2,
                        "securityContext": pod_security(65532),
                        "containers": [
                            {
                                "name": "s3",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "ports": [{"name": "s3", "containerPort": MODEL_STORE_PORT}],
                                # A busy node answers the probe late: the one store of the
                                # cluster stays in its Service unless it is really gone.
                                "readinessProbe": {
                                    "httpGet": {"path": "/moto-api/", "port": MODEL_STORE_PORT},
                                    "periodSeconds": 1,
                                    "timeoutSeconds": 5,
                                    "failureThreshold": 10,
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s3", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": MODEL_STORE_SERVICE_IP,
                "selector": labels,
                "ports": [{"name": "s3", "port": MODEL_STORE_PORT, "targetPort": "s3"}],
            },
        },
    ]


def wait_model_store(
    url: str, timeout_s: float, abort: Callable[[], str | None] = lambda: None
) -> None:
    """Waits until the model store answers at `url` (its forwarder on the host)."""
    wait_for(
        "the model store",
        lambda: insecure_get(f"{url}/moto-api/").status_code == 200,
        timeout_s,
        interval_s=0.2,
        abort=abort,
    )
