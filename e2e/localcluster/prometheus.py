"""Prometheus scraping the cluster's pods, configured and deployed as in a real cluster."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from e2e.localcluster.addons import RESTRICTED_CONTAINER, pod_security
from e2e.localcluster.rest import insecure_get, local_session, wait_for

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
                                # Ready as soon as it is; out of the Service only after
                                # 15 s without an answer, as prometheus-operator's probe
                                # has it, so a Prometheus that answers slowly is still the
                                # one queried.
                                "readinessProbe": {
                                    "httpGet": {"path": "/-/ready", "port": PROMETHEUS_PORT},
                                    "periodSeconds": 1,
                                    "failureThreshold": 15,
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
    carry a label of one of those names keep it only as exported_<name>, unless the endpoint
    honours its labels."""
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
    # Without a namespaceSelector a PodMonitor selects pods of its own namespace only.
    discovery: dict[str, Any] = {"role": "pod"}
    selector = spec.get("namespaceSelector") or {}
    if not selector.get("any"):
        discovery["namespaces"] = {"names": selector.get("matchNames") or [meta["namespace"]]}
    return {
        "job_name": f"podMonitor/{meta['namespace']}/{meta['name']}/0",
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "honor_timestamps": True,
        "scrape_interval": scrape_interval,
        "scrape_timeout": scrape_interval,
        "metrics_path": endpoint.get("path", "/metrics"),
        "scheme": "http",
        "kubernetes_sd_configs": [discovery],
        "relabel_configs": relabel,
    }


def sanitize(name: str) -> str:
    """A Kubernetes label key as Prometheus' discovery writes it into a label name
    (strutil.SanitizeLabelName)."""
    return _INVALID_LABEL_CHARS.sub("_", name)


Kubectl = Callable[..., str]
"""kubectl(*args, input_text=None) as the cluster admin, returning its output."""


@dataclass(frozen=True)
class InClusterPrometheus:
    """Stops, starts and reconfigures the Prometheus a harness runs in its cluster, reached
    through `url` from the host."""

    kubectl: Kubectl
    url: str
    scrape_interval: str

    def install(self, image: str, data_dir: Path) -> None:
        manifests = in_cluster_manifests(image, self.scrape_interval, data_dir)
        self.kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump_all(manifests))

    def wait_ready(self, timeout_s: float, abort: Callable[[], str | None] = lambda: None) -> None:
        url = f"{self.url}/-/ready"
        wait_for(
            "prometheus /-/ready",
            lambda: insecure_get(url).status_code == 200,
            timeout_s,
            interval_s=0.2,
            abort=abort,
        )

    def stop(self, timeout_s: float = 60) -> None:
        """Stops Prometheus; queries fail until start() (its data is kept)."""
        self._scale(0)

        def gone() -> bool:
            listed = self.kubectl("-n", PROMETHEUS_NAMESPACE, "get", "pods", "-o", "json")
            return not json.loads(listed).get("items")

        wait_for("Prometheus' pod to be gone", gone, timeout_s, interval_s=0.2)

    def start(self, timeout_s: float = 60) -> None:
        """Starts Prometheus again behind the same Service and waits until it is ready."""
        self._scale(1)
        self.wait_ready(timeout_s)

    def configure(self, config: dict[str, Any], timeout_s: float = 90) -> None:
        """Replaces Prometheus' configuration and waits until it runs it."""
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus", "namespace": PROMETHEUS_NAMESPACE},
            "data": {"prometheus.yml": yaml.safe_dump(config, sort_keys=False)},
        }
        self.kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump(configmap))
        jobs = [job["job_name"] for job in config.get("scrape_configs", [])]

        def running() -> bool:
            # The kubelet brings the ConfigMap's new content into the pod a few seconds later.
            with local_session() as session:
                session.post(f"{self.url}/-/reload", timeout=10)
                loaded = session.get(f"{self.url}/api/v1/status/config", timeout=10)
            current = yaml.safe_load(loaded.json()["data"]["yaml"])
            return [job["job_name"] for job in current.get("scrape_configs", [])] == jobs

        wait_for("Prometheus to run its new configuration", running, timeout_s, interval_s=1)

    def _scale(self, replicas: int) -> None:
        self.kubectl(
            "-n", PROMETHEUS_NAMESPACE, "scale", "deployment/prometheus", f"--replicas={replicas}"
        )
