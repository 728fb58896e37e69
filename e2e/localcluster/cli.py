"""python -m e2e.localcluster up|down|status|logs

`up` starts a supervisor process in the background, detached from the terminal, which starts
the cluster and keeps it until `down` (the supervisor is the parent of every component, so
nothing is left unreaped). The last line `up` prints is `export KUBECONFIG=<path>`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from e2e.localcluster import procs
from e2e.localcluster.cluster import REPO_ROOT, LocalCluster
from e2e.localcluster.logs import tail
from e2e.localcluster.state import ClusterRecord

DEFAULT_STATE_DIR = REPO_ROOT / ".cluster"
_READY = "supervisor.ready"
_FAILED = "supervisor.failed"
_SUPERVISOR = "supervisor.json"
_SUPERVISOR_LOG = "supervisor.log"


def _paths(state_dir: Path) -> tuple[Path, Path, Path, Path]:
    return (
        state_dir / _READY,
        state_dir / _FAILED,
        state_dir / _SUPERVISOR,
        state_dir / _SUPERVISOR_LOG,
    )


def _supervisor_running(state_dir: Path) -> procs.ProcessRecord | None:
    record = procs.ProcessRecord.load(state_dir / _SUPERVISOR)
    return record if record is not None and procs.is_running(record) else None


def _print_summary(state_dir: Path) -> None:
    record = ClusterRecord.load(state_dir / "cluster.json")
    ready_file = state_dir / _READY
    if record is None:
        return
    started = ""
    if ready_file.exists():
        seconds = json.loads(ready_file.read_text()).get("startup_seconds")
        started = f" (started in {seconds:.1f}s)" if seconds is not None else ""
    print(f"local cluster running{started}")
    print(f"  API server:  {record.apiserver_url}")
    print(f"  Prometheus:  {record.prometheus_url}")
    print(f"  node:        {record.node_name}")
    print(f"  model store: {record.model_store_url}")
    print(f"  gateway: {record.gateway_url}")
    print(f"  namespace:   nsenter --net=/run/netns/{record.netns}")
    print(f"  binaries:    {record.bin_dir}")
    print(f"  logs:        {state_dir / 'logs'}  (pods: `python -m e2e.localcluster logs`)")


def cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ready, failed, supervisor_file, supervisor_log = _paths(state_dir)
    kubeconfig = state_dir / "kubeconfig"
    if _supervisor_running(state_dir):
        if ready.exists():
            _print_summary(state_dir)
            print(f"export KUBECONFIG={kubeconfig}")
            return 0
        print(f"a cluster is starting in {state_dir}; run `down` first", file=sys.stderr)
        return 1
    # A cluster whose supervisor died: stop whatever of it is left.
    LocalCluster(state_dir).stop()
    for stale in (ready, failed):
        stale.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "e2e.localcluster", "_supervise", f"--state-dir={state_dir}"]
    argv.append(f"--scrape-interval={args.scrape_interval}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc, record = procs.spawn("supervisor", argv, supervisor_log, env=env, cwd=REPO_ROOT)
    record.save(supervisor_file)
    print(f"starting the local cluster in {state_dir} ...", flush=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if ready.exists():
            _print_summary(state_dir)
            print(f"export KUBECONFIG={kubeconfig}")
            return 0
        if failed.exists() or proc.poll() is not None:
            print("the local cluster failed to start:", file=sys.stderr)
            print(
                failed.read_text() if failed.exists() else tail(supervisor_log, 80), file=sys.stderr
            )
            return 1
        time.sleep(0.2)
    print(f"the local cluster did not start within {args.timeout}s", file=sys.stderr)
    print(tail(supervisor_log, 80), file=sys.stderr)
    _stop(state_dir)
    return 1


def _stop(state_dir: Path, timeout_s: float = 90) -> None:
    record = _supervisor_running(state_dir)
    if record is not None:
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while procs.is_running(record) and time.monotonic() < deadline:
            time.sleep(0.2)
        if procs.is_running(record):
            procs.stop_record(record, 0)
    # Whatever the supervisor could not stop (it may have been killed).
    LocalCluster(state_dir).stop()
    for name in (_READY, _SUPERVISOR):
        (state_dir / name).unlink(missing_ok=True)


def cmd_down(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    if not state_dir.exists():
        print(f"no local cluster in {state_dir}")
        return 0
    _stop(state_dir)
    print(f"local cluster in {state_dir} stopped")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    cluster = LocalCluster(state_dir)
    components = cluster.running_components()
    if not components:
        print(f"no local cluster running in {state_dir}")
        return 3
    _print_summary(state_dir)
    for name, alive in sorted(components.items()):
        print(f"  {name:<24} {'running' if alive else 'NOT RUNNING'}")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0 if all(components.values()) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    print(LocalCluster(args.state_dir.resolve()).component_logs(tail_lines=args.tail), end="")
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    ready, failed, _, _ = _paths(state_dir)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    cluster = LocalCluster(state_dir, scrape_interval=args.scrape_interval)
    try:
        cluster.start()
    except Exception as exc:
        failed.write_text(str(exc))
        return 1
    try:
        # What examples/ names is in the store before anyone applies an example.
        from e2e.example_models import store_example_models
        from e2e.model_store import ModelStore

        for uri in store_example_models(ModelStore(cluster.model_store_url)):
            print(f"stored {uri}", flush=True)
    except Exception as exc:
        failed.write_text(f"storing the examples' models failed: {exc}")
        cluster.stop()
        return 1
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"startup_seconds": cluster.startup_seconds}))
    tmp.replace(ready)
    print(f"cluster up in {cluster.startup_seconds or 0:.1f}s", flush=True)
    stop.wait()
    print("stopping", flush=True)
    ready.unlink(missing_ok=True)
    cluster.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.localcluster",
        description="A local Kubernetes cluster of real components in a network namespace.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE_DIR,
            help=f"where everything of the cluster lives (default {DEFAULT_STATE_DIR})",
        )
        return command

    def add_cluster_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--scrape-interval", default="2s", help="Prometheus interval")

    up = add("up", "start a cluster in the background; prints `export KUBECONFIG=...` last")
    add_cluster_options(up)
    up.add_argument("--timeout", type=float, default=300, help="seconds to wait for start-up")
    up.set_defaults(func=cmd_up)
    add("down", "stop the cluster and every process it started").set_defaults(func=cmd_down)
    add("status", "show whether the cluster's processes run").set_defaults(func=cmd_status)
    logs = add("logs", "print the end of every component's and pod's log")
    logs.add_argument("--tail", type=int, default=100)
    logs.set_defaults(func=cmd_logs)
    supervise = sub.add_parser("_supervise")
    supervise.add_argument("--state-dir", type=Path, required=True)
    add_cluster_options(supervise)
    supervise.set_defaults(func=cmd_supervise)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
