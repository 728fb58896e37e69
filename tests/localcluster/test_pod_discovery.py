from typing import Any

from e2e.localcluster.pod_discovery import pod_target_groups, sanitize

POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u1",
        "labels": {"app.kubernetes.io/name": "web", "track": "canary"},
        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True}],
    },
    "spec": {
        "nodeName": "localnode",
        "containers": [
            {
                "name": "server",
                "image": "modeldeploy/serving:0.1.0",
                "ports": [{"name": "http", "containerPort": 8080}],
            },
            {"name": "sidecar", "image": "python:3.11"},
        ],
    },
    "status": {
        "phase": "Running",
        "podIP": "127.10.0.4",
        "hostIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "server", "containerID": "localprocess://x"}],
    },
}


def test_labels_match_prometheus_kubernetes_discovery() -> None:
    first, second = pod_target_groups([POD])
    assert first["targets"] == ["127.10.0.4:8080"]
    labels = first["labels"]
    assert labels["__meta_kubernetes_namespace"] == "shop"
    assert labels["__meta_kubernetes_pod_name"] == "web-1"
    assert labels["__meta_kubernetes_pod_ip"] == "127.10.0.4"
    assert labels["__meta_kubernetes_pod_ready"] == "true"
    assert labels["__meta_kubernetes_pod_phase"] == "Running"
    assert labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == "web"
    assert labels["__meta_kubernetes_pod_labelpresent_track"] == "true"
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] == "true"
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_port"] == "8080"
    assert labels["__meta_kubernetes_pod_container_name"] == "server"
    assert labels["__meta_kubernetes_pod_container_port_name"] == "http"
    assert labels["__meta_kubernetes_pod_container_port_number"] == "8080"
    assert labels["__meta_kubernetes_pod_container_id"] == "localprocess://x"
    assert labels["__meta_kubernetes_pod_controller_kind"] == "ReplicaSet"
    # A container without ports is one target at the bare pod IP.
    assert second["targets"] == ["127.10.0.4"]
    assert "__meta_kubernetes_pod_container_port_number" not in second["labels"]


def test_pods_without_an_ip_have_no_targets() -> None:
    pending = {**POD, "status": {"phase": "Pending"}}
    assert pod_target_groups([pending]) == []


def test_sanitize() -> None:
    assert sanitize("prometheus.io/scrape") == "prometheus_io_scrape"
