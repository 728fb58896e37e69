"""Prometheus scraping the cluster's pods, configured and deployed as in a real cluster."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster.addons import RESTRICTED_CONTAINER, pod_security

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


JOB_NAME = "kubernetes-pods"


def in_cluster_config(scrape_interval: str = "2s") -> dict[str, Any]:
    """Scrapes pods annotated prometheus.io/scrape="true" at podIP:prometheus.io/port, found
    by Prometheus' own Kubernetes discovery (role: pod), with the usual relabelling."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
        },
        "scrape_configs": [
            {
                "job_name": JOB_NAME,
                "kubernetes_sd_configs": [{"role": "pod"}],
                "relabel_configs": [
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                        "action": "keep",
                        "regex": "true",
                    },
                    # A finished pod has nothing to serve; a pending one has no address yet.
                    {
                        "source_labels": ["__meta_kubernetes_pod_phase"],
                        "action": "drop",
                        "regex": "Pending|Succeeded|Failed",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scheme"],
                        "action": "replace",
                        "regex": "(https?)",
                        "target_label": "__scheme__",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
                        "action": "replace",
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_ip",
                            "__meta_kubernetes_pod_annotation_prometheus_io_port",
                        ],
                        "action": "replace",
                        "regex": r"(.+);(\d+)",
                        "replacement": "$1:$2",
                        "target_label": "__address__",
                    },
                    {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
                    {
                        "source_labels": ["__meta_kubernetes_namespace"],
                        "action": "replace",
                        "target_label": "namespace",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_name"],
                        "action": "replace",
                        "target_label": "pod",
                    },
                ],
            }
        ],
    }


PROMETHEUS_NAMESPACE = "monitoring"
# A fixed cluster IP: the host's forwarder to Prometheus is started before the Service exists.
PROMETHEUS_SERVICE_IP = "10.0.0.90"
PROMETHEUS_PORT = 9090


def in_cluster_manifests(image: str, scrape_interval: str, data_dir: Path) -> list[dict[str, Any]]:
    """Prometheus as clusters run it: a Deployment under its own ServiceAccount, allowed to
    list and watch pods cluster-wide and nothing else, behind a Service. Its data lives in a
    host directory so that a restart keeps it."""
    ns = PROMETHEUS_NAMESPACE
    labels = {"app.kubernetes.io/name": "prometheus"}
    config = yaml.safe_dump(in_cluster_config(scrape_interval), sort_keys=False)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "prometheus", "namespace": ns},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "modeldeploy-local-prometheus"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "modeldeploy-local-prometheus"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "modeldeploy-local-prometheus",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus", "namespace": ns},
            "data": {"prometheus.yml": config},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "prometheus", "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "prometheus",
                        "terminationGracePeriodSeconds": 5,
                        "securityContext": pod_security(65534),
                        "containers": [
                            {
                                "name": "prometheus",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": [
                                    "--config.file=/etc/prometheus/prometheus.yml",
                                    "--storage.tsdb.path=/prometheus",
                                    "--storage.tsdb.retention.time=1d",
                                    f"--web.listen-address=:{PROMETHEUS_PORT}",
                                    "--web.enable-lifecycle",
                                ],
                                "ports": [{"name": "http", "containerPort": PROMETHEUS_PORT}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/-/ready", "port": PROMETHEUS_PORT},
                                    "periodSeconds": 1,
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/prometheus"},
                                    {"name": "data", "mountPath": "/prometheus"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": "prometheus"}},
                            {
                                "name": "data",
                                "hostPath": {"path": str(data_dir), "type": "Directory"},
                            },
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "prometheus", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": PROMETHEUS_SERVICE_IP,
                "selector": labels,
                "ports": [{"name": "http", "port": PROMETHEUS_PORT, "targetPort": "http"}],
            },
        },
    ]


def podmonitor_scrape_config(podmonitor: dict[str, Any], scrape_interval: str) -> dict[str, Any]:
    """The scrape job prometheus-operator generates from a PodMonitor (its first endpoint),
    with the target labels it sets: namespace, container, pod, job and endpoint. Series that
    carry a label of one of those names keep it only as exported_<name>."""
    meta = podmonitor["metadata"]
    spec = podmonitor["spec"]
    endpoint = spec["podMetricsEndpoints"][0]
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
    ]
    for key, value in sorted(spec["selector"].get("matchLabels", {}).items()):
        label = sanitize(key)
        relabel.append(
            {
                "action": "keep",
                "source_labels": [
                    f"__meta_kubernetes_pod_label_{label}",
                    f"__meta_kubernetes_pod_labelpresent_{label}",
                ],
                "regex": f"({value});true",
            }
        )
    relabel += [
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": endpoint["port"],
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"target_label": "job", "replacement": f"{meta['namespace']}/{meta['name']}"},
        {"target_label": "endpoint", "replacement": endpoint["port"]},
    ]
    return {
        "job_name": f"podMonitor/{meta['namespace']}/{meta['name']}/0",
        "honor_labels": False,
        "honor_timestamps": True,
        "scrape_interval": scrape_interval,
        "scrape_timeout": scrape_interval,
        "metrics_path": endpoint.get("path", "/metrics"),
        "scheme": "http",
        "kubernetes_sd_configs": [{"role": "pod"}],
        "relabel_configs": relabel,
    }


def sanitize(name: str) -> str:
    """A Kubernetes label key as Prometheus' discovery writes it into a label name
    (strutil.SanitizeLabelName)."""
    return _INVALID_LABEL_CHARS.sub("_", name)
