"""`python -m e2e.localcluster up/down` on a cluster of its own: detached, and leaving nothing.

The node agent is also crashed here, which restarts every pod of the cluster: not something to
do to the session's shared cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from e2e.localcluster import LocalCluster
from e2e.localcluster.cluster import REPO_ROOT
from e2e.localcluster.procs import marked_processes
from tests.localcluster.cluster_helpers import Api, container_status, eventually, pids_with_arg

pytestmark = pytest.mark.cluster


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "e2e.localcluster", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def pod(name: str, script: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "main", "image": "python:3.11", "command": ["python", "-c", script, token]}
            ],
        },
    }


def check_crash_loop_with_short_back_off(api: Api) -> str:
    token = f"token-{uuid.uuid4().hex}"
    api.create("default", pod("crash", "import sys, time; time.sleep(0.2); sys.exit(1)", token))
    # With a 0.5 s back-off base, restarts come quickly: 0, 0.5, 1, 2 s apart.
    eventually(
        lambda: container_status(api.pod("default", "crash")).get("restartCount", 0) >= 3,
        30,
        "three restarts",
    )
    return token


def check_agent_crash_and_restart(cluster: LocalCluster, api: Api) -> str:
    token = f"token-{uuid.uuid4().hex}"
    api.create("default", pod("survivor", "import time; time.sleep(600)", token))
    (first_pid,) = eventually(lambda: pids_with_arg(token), 30, "the pod's process")

    def running(body: dict[str, Any]) -> bool:
        return "running" in (container_status(body).get("state") or {})

    def started() -> dict[str, Any] | None:
        body = api.pod("default", "survivor")
        return body if running(body) else None

    before = eventually(started, 30, "a running container")
    restarts = container_status(before)["restartCount"]
    cluster.restart_node_agent(crash=True)

    def restarted() -> dict[str, Any] | None:
        after = api.pod("default", "survivor")
        again = running(after) and container_status(after)["restartCount"] == restarts + 1
        return after if again else None

    after = eventually(restarted, 60, "the pod's container, started again by the new agent")
    assert after["status"]["podIP"] == before["status"]["podIP"]
    (second_pid,) = eventually(lambda: pids_with_arg(token), 10, "the new process")
    # The process of the crashed agent's run was cleaned up through its pid file.
    assert second_pid != first_pid
    return token


def test_up_runs_detached_and_down_leaves_no_process(tmp_path: Path) -> None:
    state = tmp_path / "cluster"
    up = cli("up", f"--state-dir={state}", "--backoff-base=0.5")
    assert up.returncode == 0, up.stderr
    last_line = up.stdout.strip().splitlines()[-1]
    assert last_line == f"export KUBECONFIG={state / 'kubeconfig'}"
    cluster_id = json.loads((state / "cluster.json").read_text())["cluster_id"]
    tokens = []
    try:
        status = cli("status", f"--state-dir={state}")
        assert status.returncode == 0, status.stdout
        assert "node-agent" in status.stdout and "NOT RUNNING" not in status.stdout

        # The CLI process is gone; the cluster it started answers all the same.
        cluster = LocalCluster.attach(state)
        api = Api(cluster.api_client())
        tokens.append(check_crash_loop_with_short_back_off(api))
        tokens.append(check_agent_crash_and_restart(cluster, api))
        assert marked_processes(cluster_id)
    finally:
        down = cli("down", f"--state-dir={state}")
    assert down.returncode == 0, down.stderr
    assert marked_processes(cluster_id) == []
    assert all(pids_with_arg(token) == [] for token in tokens)
    assert cli("status", f"--state-dir={state}").returncode == 3
