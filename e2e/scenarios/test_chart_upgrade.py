"""An install of the previous chart version upgraded to this one with a rollout mid-step, as
docs/upgrade.md says: no client request fails, the rollout goes on at its step, no child is
made anew (the serving pods roll once, as the new operator gives them an admin port), and the
CRDs become the release's (updated by each upgrade, kept on uninstall).

The previous chart comes from this repository's history: the chart as it was just before its
version last changed. It runs this operator image (the image is not what is upgraded here; the
chart, the CRDs and the release are).
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import OPERATOR_VALUES, Cluster, apply_model_deployment, wait_for
from e2e.in_cluster import InClusterOperator
from e2e.localcluster.cluster import REPO_ROOT
from e2e.models import TrainedModel, train_classifier
from e2e.operator_install import CHART, RELEASE, install_operator
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    model_deployment,
    sleep_until_step_reached,
    status_of,
    train_and_store,
    wait_new_revision,
    wait_outcome,
)
from modeldeploy.tools import cli

# It replaces the operator's release twice, rolling its replicas each time: every rollout on the
# cluster sees it, so it runs alone.
pytestmark = [pytest.mark.cluster, pytest.mark.disruptive]

NAME = "upgraded"
CHART_PATH = "charts/modeldeploy"
CRDS = ("modeldeployments.modeldeploy.io", "clusterrolloutpolicies.modeldeploy.io")
# What a release puts on the objects it owns, and the keep policy of the CRDs.
RELEASE_MARKS = {
    "labels": ("app.kubernetes.io/managed-by", "app.kubernetes.io/instance"),
    "annotations": (
        "meta.helm.sh/release-name",
        "meta.helm.sh/release-namespace",
        "helm.sh/resource-policy",
    ),
}


def git(*args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, check=True
    ).stdout


def chart_version(commit: str) -> str:
    chart = yaml.safe_load(git("show", f"{commit}:{CHART_PATH}/Chart.yaml"))
    return str(chart["version"])


def previous_chart(into: Path) -> tuple[Path, str]:
    """The chart as it was just before its version last changed, written under `into`."""
    current = str(yaml.safe_load((CHART / "Chart.yaml").read_text())["version"])
    for commit in git("log", "--format=%H", "--", f"{CHART_PATH}/Chart.yaml").decode().split():
        parent = f"{commit}^"
        if chart_version(commit) == current and chart_version(parent) != current:
            archive = git("archive", "--format=tar", parent, CHART_PATH)
            with tarfile.open(fileobj=BytesIO(archive)) as tar:
                tar.extractall(into, filter="data")
            return into / CHART_PATH, chart_version(parent)
    raise AssertionError(f"no chart version before {current} in the repository's history")


def crd(cluster: Cluster, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get_json(
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
    )
    return found


def as_the_previous_chart_left_them(cluster: Cluster, chart: Path) -> None:
    """The CRDs as an install of a chart with a crds/ folder has them: applied once, marked
    as no release's."""
    folder = chart / "crds"
    if folder.is_dir():
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(folder))
    for name in CRDS:
        cluster.kubectl("label", "crd", name, *(f"{k}-" for k in RELEASE_MARKS["labels"]))
        cluster.kubectl("annotate", "crd", name, *(f"{k}-" for k in RELEASE_MARKS["annotations"]))


def children(cluster: Cluster, namespace: str) -> dict[str, str]:
    """The namespace's Deployments and Services: name -> uid (made anew, it would differ)."""
    found = {}
    for path, kind in (("/apis/apps/v1", "deployments"), ("/api/v1", "services")):
        for item in cluster.get_json(f"{path}/namespaces/{namespace}/{kind}")["items"]:
            found[f"{kind}/{item['metadata']['name']}"] = item["metadata"]["uid"]
    return found


def services(cluster: Cluster, namespace: str) -> dict[str, str]:
    """What the namespace's Services select and where they send: name -> their spec."""
    items = cluster.get_json(f"/api/v1/namespaces/{namespace}/services")["items"]
    return {s["metadata"]["name"]: json.dumps(s["spec"], sort_keys=True) for s in items}


def with_admin_port(cluster: Cluster, namespace: str) -> bool:
    """Every serving Deployment's pods open the admin port this chart's operator gives them
    (docs/upgrade.md: they roll once, surge first), and all of them are updated."""
    items = cluster.get_json(f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
    for item in items:
        [container] = item["spec"]["template"]["spec"]["containers"]
        status = item.get("status") or {}
        if "admin" not in {p.get("name") for p in container.get("ports", [])}:
            return False
        if (
            status.get("updatedReplicas") != item["spec"]["replicas"]
            or status.get("observedGeneration") != item["metadata"]["generation"]
        ):
            return False
    return bool(items)


def progress(status: dict[str, Any]) -> dict[str, Any]:
    """Where the rollout is; the checks' latest run and streaks move on by themselves."""
    rollout = status.get("rollout") or {}
    moving = {"lastAnalysisAt", "failures", "inconclusive"}
    return {"stable": status.get("stable")} | {k: v for k, v in rollout.items() if k not in moving}


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    return train_and_store(
        cluster,
        NAME,
        tmp_path_factory.mktemp("models"),
        {"v1": (train_classifier, 1), "v2": (train_classifier, 2)},
    )


def test_an_install_of_the_previous_chart_upgrades_mid_rollout_and_nothing_is_lost(
    cluster: Cluster,
    operator: InClusterOperator,
    namespace: str,
    models: dict[str, TrainedModel],
    tmp_path: Path,
) -> None:
    old_chart, old_version = previous_chart(tmp_path)
    try:
        with operator.alone():
            install_operator(cluster.kubeconfig, OPERATOR_VALUES, chart=old_chart)
            as_the_previous_chart_left_them(cluster, old_chart)
        options = RolloutOptions(steps=[{"weight": 25, "pause": "1h"}, {"weight": 50}])
        stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
        with client_traffic(cluster, namespace, NAME) as traffic:
            apply_model_deployment(
                cluster, namespace, model_deployment(NAME, models["v2"], "v2", options)
            )
            canary = wait_new_revision(cluster, namespace, NAME, stable)
            before = sleep_until_step_reached(cluster, namespace, NAME, 0)
            kept, routed = children(cluster, namespace), services(cluster, namespace)

            # docs/upgrade.md, "From chart 0.1"; it waits until a replica leads.
            with operator.alone():
                install_operator(cluster.kubeconfig, OPERATOR_VALUES, chart=CHART)
                wait_for(operator.leader_pod, 60, "a replica of the upgraded release leads")

            wait_for(lambda: with_admin_port(cluster, namespace), 180, "pods with an admin port")
            after = sleep_until_step_reached(cluster, namespace, NAME, 0)
            assert progress(after) == progress(before)
            assert children(cluster, namespace) == kept, "a child was made anew"
            assert services(cluster, namespace) == routed, "a Service sends elsewhere"

            promote = ["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "promote"]
            assert cli.main([*promote, "--full", NAME]) == 0
            outcome = wait_outcome(cluster, namespace, NAME, canary)
        failed = [r for r in traffic.records() if not r.ok]
    finally:
        with operator.alone():
            install_operator(cluster.kubeconfig, OPERATOR_VALUES, chart=CHART)

    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert not failed, f"{len(failed)} client requests failed across the upgrade from {old_version}"
    for name in CRDS:
        meta = crd(cluster, name)["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm", name
        assert meta["annotations"]["meta.helm.sh/release-name"] == RELEASE, name
        assert meta["annotations"]["helm.sh/resource-policy"] == "keep", name
        # The stored schema is this chart's.
        shipped = yaml.safe_load((CHART / "files" / "crds" / f"{name}.yaml").read_text())
        stored = crd(cluster, name)["spec"]["versions"]
        assert [v["schema"] for v in stored] == [v["schema"] for v in shipped["spec"]["versions"]]
    # Ready once the old stable's pods are gone, after the scale-down delay.
    wait_for(
        lambda: status_of(cluster, namespace, NAME)["phase"] == "Ready", 120, "upgraded is Ready"
    )
