"""What GitOps tools make of a ModelDeployment through a rollout: kstatus (Flux's library) and
the chart's Argo CD health script run in gopher-lua, both on the objects of a live run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import REPO, Cluster, built, get_model_deployment, wait_for
from e2e.model_store import stored
from e2e.models import TrainedModel, train_classifier, train_failing_on_negatives
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    model_deployment,
    status_of,
    wait_new_revision,
    wait_outcome,
)

pytestmark = pytest.mark.cluster

NAME = "churn"
HEALTH_SCRIPT = REPO / "charts" / "modeldeploy" / "docs" / "argocd-health.lua"


def judged(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kstatus status, Argo CD health status) of each object."""
    tools = built("build-gitops-tools.sh")
    text = json.dumps(objects)

    def run(*argv: str) -> list[dict[str, str]]:
        out = subprocess.run(argv, input=text, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))

    flux = run(str(tools / "kstatus"))
    argo = run(str(tools / "luahealth"), str(HEALTH_SCRIPT))
    return [(f["status"], a["status"]) for f, a in zip(flux, argo, strict=True)]


def apply_returning(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """kubectl apply, returning the object as the API server stored it (status as it was)."""
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    out = cluster.kubectl(
        "apply", "--server-side", "-o", "json", "-f", "-", input_text=yaml.safe_dump(manifest)
    )
    return dict(json.loads(out))


class Follower:
    """`kubectl modeldeploy status NAME --watch -o json`, its documents read as they come."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.documents: list[dict[str, Any]] = []
        self.errors = ""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "modeldeploy.tools.cli", f"--kubeconfig={cluster.kubeconfig}",
             "-n", namespace, "status", NAME, "--watch", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip():
                self.documents.append(json.loads(line))

    def phases(self) -> list[str]:
        """The phases it printed, each run of one phase once."""
        phases = [str(d["status"].get("phase")) for d in list(self.documents)]
        return [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]

    def wait_phase(self, phase: str) -> None:
        wait_for(lambda: phase in self.phases(), 60, f"the plugin to print phase {phase}")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self._process.stderr is not None
        self.errors = self._process.stderr.read()


def in_phase(cluster: Cluster, namespace: str, phase: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        body = get_model_deployment(cluster, namespace, NAME)
        return body if (body.get("status") or {}).get("phase") == phase else None

    return probe


def test_kstatus_and_the_argo_cd_script_follow_a_rollout(
    cluster: Cluster, operator: Any, namespace: str, tmp_path: Path
) -> None:
    v1 = stored(cluster.model_store, train_classifier(tmp_path / "v1.joblib", seed=1), "h/v1")
    v2 = stored(cluster.model_store, train_classifier(tmp_path / "v2.joblib", seed=2), "h/v2")
    bad: TrainedModel = stored(
        cluster.model_store, train_failing_on_negatives(tmp_path / "bad.joblib", seed=3), "h/bad"
    )
    options = RolloutOptions(interval="4s", steps=[{"weight": 50}])
    captured: dict[str, dict[str, Any]] = {}

    with client_traffic(cluster, namespace, NAME):
        stable = deploy_stable(cluster, namespace, NAME, v1, options, replicas=2)
        captured["serving"] = get_model_deployment(cluster, namespace, NAME)
        # The plugin follows the same rollout, as a script would.
        follower = Follower(cluster, namespace)
        follower.wait_phase("Ready")

        paused = model_deployment(NAME, v2, "v2", options, replicas=2)
        paused["metadata"]["annotations"] = {"modeldeploy.io/paused": "true"}
        captured["not yet observed"] = apply_returning(cluster, namespace, paused)
        canary = wait_new_revision(cluster, namespace, NAME, stable)

        captured["paused"] = wait_for(
            in_phase(cluster, namespace, "Paused"), 120, "the rollout paused at its step"
        )
        follower.wait_phase("Paused")
        apply_returning(cluster, namespace, model_deployment(NAME, v2, "v2", options, replicas=2))

        captured["ramping"] = wait_for(
            in_phase(cluster, namespace, "Canary"), 60, "the rollout ramping again", interval=0.2
        )
        wait_outcome(cluster, namespace, NAME, canary)
        captured["promoted"] = wait_for(in_phase(cluster, namespace, "Ready"), 120, "v2 Ready")

        failing = model_deployment(NAME, bad, "v3", options, replicas=2)
        apply_returning(cluster, namespace, failing)
        doomed = wait_new_revision(cluster, namespace, NAME, canary)
        assert wait_outcome(cluster, namespace, NAME, doomed)["phase"] == "RolledBack"
        captured["rolled back"] = get_model_deployment(cluster, namespace, NAME)
        follower.wait_phase("RolledBack")
        follower.stop()

    seen = follower.phases()
    assert {"Ready", "Paused", "Canary", "RolledBack"} <= set(seen), (seen, follower.errors)
    assert seen[0] == "Ready" and seen[-1] == "RolledBack", seen
    assert all(d["name"] == NAME and "effectiveRollout" in d for d in follower.documents)

    verdicts = dict(zip(captured, judged(list(captured.values())), strict=True))
    assert verdicts == {
        "serving": ("Current", "Healthy"),
        "not yet observed": ("InProgress", "Progressing"),
        "paused": ("InProgress", "Suspended"),
        "ramping": ("InProgress", "Progressing"),
        "promoted": ("Current", "Healthy"),
        "rolled back": ("Failed", "Degraded"),
    }, {k: (v, status_of(cluster, namespace, NAME).get("phase")) for k, v in verdicts.items()}
