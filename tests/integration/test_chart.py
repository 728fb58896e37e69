"""The Helm chart: lint-clean, and every object it renders accepted by the real API server
(a server-side dry run), for the default values and two other value sets."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import REPO, Cluster, built

pytestmark = pytest.mark.cluster

CHART = REPO / "charts" / "modeldeploy"
RELEASE, NAMESPACE = "modeldeploy", "modeldeploy-system"
KUBE_VERSION = "1.37.1"

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "some-namespaces": {
        "watchNamespaces": ["team-a", "team-b"],
        "replicas": 3,
        "logLevel": "debug",
        "resyncPeriod": "10m",
    },
    "placement": {
        "image": {"repository": "registry.example.com/modeldeploy/operator", "tag": "0.1.0"},
        "prometheus": {"url": "http://prometheus.monitoring.svc:9090"},
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "webhook": {"failurePolicy": "Fail", "timeoutSeconds": 3},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops"}],
        "grafanaDashboard": {"enabled": True},
        "extraEnv": [
            {"name": "MODELDEPLOY_STRICT_STATUS", "value": True},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
    },
}


@pytest.fixture(scope="module")
def helm() -> str:
    return str(built("build-helm.sh"))


def values_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(VALUE_SETS[name]))
    return path


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_the_chart_lints_clean(helm: str, tmp_path: Path, name: str) -> None:
    result = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "-f", str(values_file(tmp_path, name))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_the_api_server_accepts_everything_the_chart_renders(
    helm: str, cluster: Cluster, crds: None, tmp_path: Path, name: str
) -> None:
    rendered = subprocess.run(
        [
            helm,
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
            "-f",
            str(values_file(tmp_path, name)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = sorted(d["kind"] for d in objects)
    assert {"ClusterRole", "Deployment", "Role", "ServiceAccount"} <= set(kinds), kinds
    for namespace in {d["metadata"].get("namespace") for d in objects} - {None}:
        try:
            cluster.kubectl("create", "namespace", namespace)
        except AssertionError as error:
            assert "AlreadyExists" in str(error)
    # The scenarios' own install may already own these objects (through helm): a dry run
    # that takes them over changes nothing.
    out = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-",
        input_text=rendered,
    )  # fmt: skip
    assert out.count("serverside-applied (server dry run)") == len(kinds), out
    if VALUE_SETS[name].get("watchNamespaces"):
        # Watching some namespaces, the operator is granted nothing in the others.
        roles = {(d["kind"], d["metadata"].get("namespace")) for d in objects}
        assert {("Role", n) for n in VALUE_SETS[name]["watchNamespaces"]} <= roles
        cluster_role = next(d for d in objects if d["kind"] == "ClusterRole")
        granted = {r for rule in cluster_role["rules"] for r in rule["resources"]}
        assert granted == {
            "namespaces",
            "customresourcedefinitions",
            "clusterrolloutpolicies",
        }, granted
