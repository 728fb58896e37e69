"""`make demo`: a real local cluster, the operator, and a model's life printed live.

0. The operator is installed with its Helm chart, as a platform team would.
1. `examples/iris.yaml` (v1) is applied and comes up.
2. v2, a retrained model, ramps through its steps under client traffic and is promoted.
3. v3, a model that fails on part of the traffic, is rolled back at its first step.

Each rollout is drawn into a PNG under .cluster/demo-plots/.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from e2e.fixtures import REPO, Cluster, apply_model_deployment, cluster_on, get_model_deployment
from e2e.localcluster import LocalCluster
from e2e.models import train_classifier, train_failing_on_negatives
from e2e.operator_install import install_operator
from e2e.plot import RolloutTrace, plot_rollout
from e2e.rollouts import client_traffic, status_of

DEMO_DIR = Path("/tmp/modeldeploy-demo")
PLOTS = REPO / ".cluster" / "demo-plots"
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


def watch(
    cluster: Cluster, done: Any, timeout: float, trace: RolloutTrace | None = None
) -> dict[str, Any]:
    """Prints every change of phase, weight and message until `done(status)` holds; records
    every status seen into `trace`."""
    began = time.monotonic()
    deadline = began + timeout
    last = ""
    while time.monotonic() < deadline:
        status = status_of(cluster, NAMESPACE, NAME)
        if trace is not None:
            trace.add(time.monotonic() - began, status)
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
    say("Starting the local cluster: etcd, kube-apiserver, controller-manager, scheduler, and a")
    print("    node (kubelet, containerd, kube-proxy) running CoreDNS, Prometheus and an S3 store")
    with LocalCluster(state_dir=state_dir) as local:
        cluster = cluster_on(local)
        print(f"  export KUBECONFIG={local.kubeconfig}")
        print(f"  Prometheus: {local.prometheus_url}")

        say("helm install modeldeploy charts/modeldeploy -n modeldeploy-system")
        installed = install_operator(local.kubeconfig)
        print(f"  two replicas; leader: {installed.leader}")

        say("Training three models into the model store: v1, v2 (retrained), v3 (fails on")
        print("    negative inputs)", flush=True)
        store = cluster.model_store
        assert store is not None
        trained = {
            "v1": train_classifier(DEMO_DIR / "iris-v1.joblib", seed=1),
            "v2": train_classifier(DEMO_DIR / "iris-v2.joblib", seed=2),
            "v3": train_failing_on_negatives(DEMO_DIR / "iris-v3.joblib", seed=3),
        }
        uris = {
            version: store.put(model.path, f"iris/{version}/model.joblib")
            for version, model in trained.items()
        }
        manifest = yaml.safe_load((REPO / "examples" / "iris.yaml").read_text())
        say("kubectl apply -f examples/iris.yaml   (v1)")
        apply_model_deployment(cluster, NAMESPACE, manifest)
        watch(cluster, lambda s: s.get("phase") == "Ready", 180)
        print(cluster.kubectl("get", "md,deployments,services,pods", "-n", NAMESPACE))

        with client_traffic(cluster, NAMESPACE, NAME, rate_per_s=20, duration_s=900):
            say("v2: a retrained model, ramped step by step under client traffic")
            v2 = trained["v2"]
            apply_model_deployment(
                cluster, NAMESPACE, with_version(manifest, "v2", uris["v2"], v2.sha256)
            )
            ramp = RolloutTrace("iris v2: a retrained model, ramped and promoted")
            watch(
                cluster,
                lambda s: (
                    (s.get("stable") or {}).get("version") == "v2" and s.get("phase") == "Ready"
                ),
                300,
                ramp,
            )
            print(f"  plot: {plot_rollout(ramp, PLOTS / 'iris-v2.png')}")
            say("v3: a model that answers 5xx to part of the traffic")
            v3 = trained["v3"]
            apply_model_deployment(
                cluster, NAMESPACE, with_version(manifest, "v3", uris["v3"], v3.sha256)
            )
            failing = RolloutTrace("iris v3: answers 5xx to part of the traffic, rolled back")
            watch(
                cluster,
                lambda s: s.get("phase") == "RolledBack" and s.get("ready") == "4/4",
                300,
                failing,
            )
            print(f"  plot: {plot_rollout(failing, PLOTS / 'iris-v3.png')}")
        say("kubectl modeldeploy status iris")
        from modeldeploy.tools.cli import format_status

        print(format_status(get_model_deployment(cluster, NAMESPACE, NAME)))
        say("kubectl get mdep")
        print(cluster.kubectl("get", "mdep", "-n", NAMESPACE))
        if os.environ.get("DEMO_KEEP") and sys.stdin.isatty():
            say(f"Keeping the cluster up: export KUBECONFIG={local.kubeconfig}")
            input("Press Enter to stop it... ")
    say("Done: the cluster is stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
