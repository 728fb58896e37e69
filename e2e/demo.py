"""`make demo`: a real local cluster, the operator, and a model's life printed live.

1. `examples/iris.yaml` (v1) is applied and comes up.
2. v2, a retrained model, ramps through its steps under client traffic and is promoted.
3. v3, a model that fails on part of the traffic, is rolled back at its first step.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from e2e.fixtures import (
    REPO,
    Cluster,
    apply_model_deployment,
    cluster_on,
    install_crds,
    start_operator,
)
from e2e.localcluster import LocalCluster
from e2e.models import train_classifier, train_failing_on_negatives
from e2e.rollouts import client_traffic, status_of

DEMO_DIR = Path("/tmp/modeldeploy-demo")
NAMESPACE = "default"
NAME = "iris"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def status_line(status: dict[str, Any]) -> str:
    stable = (status.get("stable") or {}).get("version", "-")
    canary = (status.get("canary") or {}).get("version", "-")
    return (
        f"phase={status.get('phase', '-'):<11} stable={stable:<3} canary={canary:<3} "
        f"weight={status.get('weight', 0):>3}% effective={status.get('effectiveWeight', 0):>3}%  "
        f"{status.get('message', '')}"
    )


def watch(cluster: Cluster, done: Any, timeout: float) -> dict[str, Any]:
    """Prints every change of phase, weight and message until `done(status)` holds."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        status = status_of(cluster, NAMESPACE, NAME)
        line = status_line(status)
        if line != last:
            print(f"  {time.strftime('%H:%M:%S')}  {line}", flush=True)
            last = line
        if done(status):
            return status
        time.sleep(0.5)
    raise SystemExit(f"{NAME} did not get there within {timeout:.0f}s; last: {last}")


def with_version(manifest: dict[str, Any], version: str, uri: str, sha256: str) -> dict[str, Any]:
    model = {**manifest["spec"]["model"], "version": version, "uri": uri, "sha256": sha256}
    return {**manifest, "spec": {**manifest["spec"], "model": model}}


def main() -> int:
    state_dir = REPO / ".cluster" / "demo"
    say("Starting the local cluster: etcd, kube-apiserver, controller-manager, scheduler,")
    print("    a node agent running pods as local processes, Prometheus", flush=True)
    with LocalCluster(state_dir=state_dir) as local:
        cluster = cluster_on(local)
        print(f"  export KUBECONFIG={local.kubeconfig}")
        print(f"  Prometheus: {local.prometheus_url}")
        install_crds(cluster)

        say("Training three models: v1, v2 (retrained), v3 (fails on negative inputs)")
        train_classifier(DEMO_DIR / "iris-v1.joblib", seed=1)
        v2 = train_classifier(DEMO_DIR / "iris-v2.joblib", seed=2)
        v3 = train_failing_on_negatives(DEMO_DIR / "iris-v3.joblib", seed=3)

        say("Starting the operator")
        log_path = Path(tempfile.mkdtemp(prefix="modeldeploy-operator-")) / "operator.log"
        operator = start_operator(cluster.kubeconfig, log_path, local.prometheus_url)
        print(f"  logs: {log_path}")
        try:
            manifest = yaml.safe_load((REPO / "examples" / "iris.yaml").read_text())
            say("kubectl apply -f examples/iris.yaml   (v1)")
            apply_model_deployment(cluster, NAMESPACE, manifest)
            watch(cluster, lambda s: s.get("phase") == "Ready", 180)
            print(cluster.kubectl("get", "md,deployments,services", "-n", NAMESPACE))

            with client_traffic(cluster, NAMESPACE, NAME, rate_per_s=20, duration_s=900):
                say("v2: a retrained model, ramped step by step under client traffic")
                apply_model_deployment(
                    cluster, NAMESPACE, with_version(manifest, "v2", v2.uri, v2.sha256)
                )
                watch(
                    cluster,
                    lambda s: (
                        (s.get("stable") or {}).get("version") == "v2" and s.get("phase") == "Ready"
                    ),
                    300,
                )
                say("v3: a model that answers 5xx to part of the traffic")
                apply_model_deployment(
                    cluster, NAMESPACE, with_version(manifest, "v3", v3.uri, v3.sha256)
                )
                final = watch(
                    cluster,
                    lambda s: s.get("phase") == "RolledBack" and s.get("ready") == "4/4",
                    300,
                )
            say("kubectl modeldeploy status iris")
            from modeldeploy.cli import format_status

            print(
                format_status({"metadata": {"name": NAME, "namespace": NAMESPACE}, "status": final})
            )
            say("kubectl get md")
            print(cluster.kubectl("get", "md", "-n", NAMESPACE))
        finally:
            operator.stop()
        if os.environ.get("DEMO_KEEP") and sys.stdin.isatty():
            say(f"Keeping the cluster up: export KUBECONFIG={local.kubeconfig}")
            input("Press Enter to stop it... ")
    say("Done: the cluster is stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
