"""`python -m e2e.localcluster up/down` on a cluster of its own: detached, and leaving nothing
behind: no process, network namespace, mount, cgroup or node state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.localcluster import LocalCluster
from e2e.localcluster.cluster import REPO_ROOT
from e2e.localcluster.node import CGROUP_V1_ROOT, NodeLayout
from e2e.localcluster.procs import marked_processes
from tests.localcluster.cluster_helpers import Api, eventually

# It starts a cluster of its own, and touches no other.
pytestmark = [pytest.mark.cluster, pytest.mark.own_cluster]


def cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "e2e.localcluster", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def leftovers(layout: NodeLayout, netns: str) -> list[str]:
    found = []
    if Path(f"/run/netns/{netns}").exists():
        found.append(f"network namespace {netns}")
    found += [str(p) for p in (layout.root, layout.run) if p.exists()]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [line for line in mounts.splitlines() if layout.cluster_id in line]
    found += [
        str(h / layout.cgroup_root.lstrip("/"))
        for h in CGROUP_V1_ROOT.iterdir()
        if (h / layout.cgroup_root.lstrip("/")).exists()
    ]
    return found


def test_up_runs_detached_and_down_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    up = cli("up", f"--state-dir={state}")
    assert up.returncode == 0, up.stderr + up.stdout
    last_line = up.stdout.strip().splitlines()[-1]
    assert last_line == f"export KUBECONFIG={state / 'kubeconfig'}"
    record = json.loads((state / "cluster.json").read_text())
    layout = NodeLayout(record["cluster_id"], record["node_name"])
    try:
        status = cli("status", f"--state-dir={state}")
        assert status.returncode == 0, status.stdout
        assert "kubelet" in status.stdout and "NOT RUNNING" not in status.stdout

        # The CLI process is gone; the cluster it started answers all the same, and runs pods.
        cluster = LocalCluster.attach(state)
        api = Api(cluster.api_client())
        api.create(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "sleeper"},
                "spec": {
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "main",
                            "image": cluster.record.images["serving"],
                            "imagePullPolicy": "Never",
                            # Ignores SIGTERM: down must not wait for it, nor leave it.
                            "command": [
                                "python3",
                                "-c",
                                "import signal, time; signal.signal(signal.SIGTERM, "
                                "signal.SIG_IGN); time.sleep(3600)",
                            ],
                        }
                    ],
                },
            },
        )
        eventually(
            lambda: api.pod("default", "sleeper")["status"].get("phase") == "Running",
            90,
            "the pod running",
        )
        assert marked_processes(record["cluster_id"])
        assert leftovers(layout, record["netns"]), "a running cluster holds its namespace"
    finally:
        down = cli("down", f"--state-dir={state}")
    assert down.returncode == 0, down.stderr
    assert marked_processes(record["cluster_id"]) == []
    assert leftovers(layout, record["netns"]) == []
    assert cli("status", f"--state-dir={state}").returncode == 3
