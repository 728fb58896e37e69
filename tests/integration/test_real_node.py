"""The local cluster's node is a real one: containerd runs the images built here, pods get bridge
addresses, Service names resolve through CoreDNS, and the API server reaches the kubelet."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from e2e.fixtures import Cluster, wait_for
from e2e.localcluster import LocalCluster
from e2e.localcluster.netns import POD_CIDR

pytestmark = pytest.mark.cluster

PROBE = "node-probe"


@pytest.fixture(scope="module")
def probe_pod(cluster: Cluster, local_cluster: LocalCluster) -> dict[str, Any]:
    image = local_cluster.record.images["serving"]
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input_text=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": PROBE, "namespace": "default"},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "shell",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", "import time; time.sleep(3600)"],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            }
        ),
    )
    cluster.kubectl("wait", "--for=condition=Ready", f"pod/{PROBE}", "--timeout=120s")
    pod: dict[str, Any] = json.loads(cluster.kubectl("get", "pod", PROBE, "-o", "json"))
    return pod


def exec_python(cluster: Cluster, code: str) -> str:
    return cluster.kubectl("exec", PROBE, "--", "python3", "-c", code).strip()


def test_the_node_runs_containerd(cluster: Cluster, local_cluster: LocalCluster) -> None:
    node: Any = cluster.core.read_node(local_cluster.node_name)
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    assert node.status.node_info.kubelet_version == "v1.37.1"


def test_pods_get_bridge_addresses_and_run_as_their_user(
    cluster: Cluster, probe_pod: dict[str, Any]
) -> None:
    assert ipaddress.ip_address(probe_pod["status"]["podIP"]) in ipaddress.ip_network(POD_CIDR)
    container = probe_pod["status"]["containerStatuses"][0]
    assert container["containerID"].startswith("containerd://")
    # `kubectl exec` goes through the API server to the kubelet.
    assert exec_python(cluster, "import os; print(os.getuid())") == "65532"


def test_service_names_resolve_through_coredns_and_nothing_else(
    cluster: Cluster, probe_pod: dict[str, Any]
) -> None:
    resolved = exec_python(
        cluster,
        "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))",
    )
    assert resolved == "10.0.0.1"
    outside = exec_python(
        cluster,
        "import socket\n"
        "try:\n    print(socket.gethostbyname('example.com'))\n"
        "except OSError as e:\n    print('unresolved')",
    )
    assert outside == "unresolved", "CoreDNS must forward nothing outside the cluster"


def test_the_api_server_serves_pod_logs_from_the_kubelet(
    cluster: Cluster, probe_pod: dict[str, Any], local_cluster: LocalCluster
) -> None:
    logs = wait_for(
        lambda: cluster.kubectl("-n", "monitoring", "logs", "deploy/prometheus", "--tail=5"),
        30,
        "Prometheus' log through the API server",
    )
    assert "level=" in logs or "msg=" in logs
