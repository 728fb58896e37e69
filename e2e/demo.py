"""`make demo`: the local cluster, the operator, and a ModelDeployment coming up, printed live."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config

from e2e.fixtures import GROUP, PLURAL, REPO, VERSION, start_operator
from e2e.localcluster import LocalCluster
from e2e.models import train_classifier

DEMO_DIR = Path("/tmp/modeldeploy-demo")
NAMESPACE = "default"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def status_line(body: dict[str, Any]) -> str:
    status = body.get("status") or {}
    stable = (status.get("stable") or {}).get("version", "-")
    canary = (status.get("canary") or {}).get("version", "-")
    return (
        f"phase={status.get('phase', '-'):<12} stable={stable:<4} canary={canary:<4} "
        f"weight={status.get('weight', 0):<3} ready={status.get('ready', '-'):<5} "
        f"{status.get('message', '')}"
    )


def watch_until(
    custom: client.CustomObjectsApi, name: str, phase: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        body = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
        line = status_line(body)
        if line != last:
            print(f"  {time.strftime('%H:%M:%S')}  {line}", flush=True)
            last = line
        status = body.get("status") or {}
        if (
            status.get("phase") == phase
            and status.get("observedGeneration") == body["metadata"]["generation"]
        ):
            return dict(body)
        time.sleep(1)
    raise SystemExit(f"{name} did not reach {phase} within {timeout:.0f}s")


def main() -> int:
    state_dir = REPO / ".cluster" / "demo"
    say(
        "Starting the local cluster: etcd, kube-apiserver, controller-manager, scheduler, "
        "node agent, Prometheus"
    )
    with LocalCluster(state_dir=state_dir) as cluster:
        print(f"  export KUBECONFIG={cluster.kubeconfig}")
        print(f"  Prometheus: {cluster.prometheus_url}")
        kubectl = str(Path(cluster.bin_dir) / "kubectl")
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        subprocess.run(
            [kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], env=env, check=True
        )
        subprocess.run(
            [
                kubectl,
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                f"crd/{PLURAL}.{GROUP}",
            ],
            env=env,
            check=True,
        )

        say("Training a small classifier to serve")
        model = train_classifier(DEMO_DIR / "iris-v1.joblib", seed=1)
        print(f"  {model.path} sha256={model.sha256[:12]}…")

        say("Starting the operator")
        log_path = Path(tempfile.mkdtemp(prefix="modeldeploy-operator-")) / "operator.log"
        operator = start_operator(cluster.kubeconfig, log_path)
        print(f"  logs: {log_path}")
        try:
            say("kubectl apply -f examples/iris.yaml")
            manifest = yaml.safe_load((REPO / "examples" / "iris.yaml").read_text())
            subprocess.run(
                [kubectl, "apply", "--server-side", "-n", NAMESPACE, "-f", "-"],
                input=yaml.safe_dump(manifest),
                text=True,
                env=env,
                check=True,
            )
            api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            custom = client.CustomObjectsApi(api)
            watch_until(custom, "iris", "Ready", 180)

            say("kubectl get md,deployments,services")
            subprocess.run(
                [kubectl, "get", "md,deployments,services", "-n", NAMESPACE], env=env, check=False
            )
        finally:
            operator.stop()
        if os.environ.get("DEMO_KEEP"):
            say(f"Keeping the cluster up (DEMO_KEEP): export KUBECONFIG={cluster.kubeconfig}")
            input("Press Enter to stop it… ") if sys.stdin.isatty() else None
    say("Done: the cluster is stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
