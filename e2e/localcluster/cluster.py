"""LocalCluster: a real Kubernetes control plane, a process-running node and Prometheus."""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from e2e.localcluster import control_plane, gateway_api, pki, procs
from e2e.localcluster import prometheus as prom
from e2e.localcluster.binaries import find_bin_dir, find_prometheus
from e2e.localcluster.kubeconfig import write_kubeconfig
from e2e.localcluster.logs import collect_logs
from e2e.localcluster.pod_discovery import TARGETS_PATH
from e2e.localcluster.ports import free_ports
from e2e.localcluster.rest import ApiRest, insecure_get, wait_for
from e2e.localcluster.state import ClusterRecord, StateLayout

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_NAME = "localnode"

# Stop order: the node first so that pods end gracefully while the API is still there, the
# API server before etcd so that it does not hang on a vanished store.
_STOP_ORDER = (
    "node-agent",
    "prometheus",
    "pod-discovery",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
)
_GRACE_S = {"node-agent": 40.0, "kube-apiserver": 5.0, "etcd": 5.0}


class ClusterStartError(RuntimeError):
    """Start-up failed; the message ends with the components' logs."""


class LocalCluster:
    """A cluster whose state lives in state_dir.

    start() returns once the API server is healthy, the `default` ServiceAccount exists, the
    node is Ready, the Gateway API CRDs are established and Prometheus answers; stop() leaves
    no process behind.
    """

    def __init__(
        self,
        state_dir: Path,
        image_map: Path | None = None,
        *,
        scrape_interval: str = "2s",
        backoff_base_s: float | None = None,
        python: str | None = None,
        start_timeout_s: float = 120,
    ) -> None:
        self.state = StateLayout(Path(state_dir).resolve())
        self.image_map = Path(image_map).resolve() if image_map else None
        self.scrape_interval = scrape_interval
        self.backoff_base_s = backoff_base_s
        self.python = python or sys.executable
        self.start_timeout_s = start_timeout_s
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._record: ClusterRecord | None = None
        self.startup_seconds: float | None = None

    # Access -------------------------------------------------------------------------------

    @classmethod
    def attach(cls, state_dir: Path) -> LocalCluster:
        """A handle on a cluster another process started in state_dir."""
        cluster = cls(state_dir)
        cluster._record = ClusterRecord.load(cluster.state.record)
        if cluster._record is None:
            raise FileNotFoundError(f"no cluster record in {cluster.state.root}")
        if cluster._record.image_map:
            cluster.image_map = Path(cluster._record.image_map)
        return cluster

    @property
    def record(self) -> ClusterRecord:
        if self._record is None:
            raise RuntimeError("the cluster has not been started")
        return self._record

    @property
    def kubeconfig(self) -> Path:
        return self.state.kubeconfig

    @property
    def prometheus_url(self) -> str:
        return self.record.prometheus_url

    @property
    def apiserver_url(self) -> str:
        return self.record.apiserver_url

    @property
    def bin_dir(self) -> Path:
        return Path(self.record.bin_dir)

    @property
    def node_name(self) -> str:
        return self.record.node_name

    @property
    def pods_dir(self) -> Path:
        return self.state.pods

    @property
    def pki(self) -> pki.ClusterPKI:
        return pki.ClusterPKI(self.state.pki)

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient for the cluster admin."""
        from kubernetes import config

        loader: Any = config.new_client_from_config
        return loader(config_file=str(self.kubeconfig))

    def running_components(self) -> dict[str, bool]:
        out = {}
        for path in self.state.process_files():
            record = procs.ProcessRecord.load(path)
            if record is not None:
                out[record.name] = procs.is_running(record)
        return out

    def is_running(self) -> bool:
        return any(self.running_components().values())

    # Start-up -----------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self.is_running():
            raise ClusterStartError(f"a cluster is already running in {self.state.root}")
        self._stop_leftovers()
        # The components run in sessions of their own and would outlive this process; stop
        # them when it exits without having called stop().
        atexit.register(self.stop)
        started = time.monotonic()
        try:
            self._start()
        except BaseException as exc:
            logs = self.component_logs(tail_lines=60)
            self.stop()
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise ClusterStartError(f"{exc}\n\n{logs}") from exc
        self.startup_seconds = time.monotonic() - started

    def _prepare_state_dir(self) -> None:
        root = self.state.root
        root.mkdir(parents=True, exist_ok=True)
        for name in ("pki", "logs", "pods", "node-agent", "prometheus", "processes"):
            shutil.rmtree(root / name, ignore_errors=True)
        for stale in (self.state.record, self.state.kubeconfig):
            stale.unlink(missing_ok=True)
        for name in ("pki", "logs", "pods", "node-agent", "prometheus", "processes"):
            (root / name).mkdir()

    def _start(self) -> None:
        self._prepare_state_dir()
        bin_dir = find_bin_dir()
        prometheus_binary = find_prometheus()
        crds = gateway_api.crd_dir()
        ports = free_ports(7)
        cluster_id = uuid.uuid4().hex[:12]
        self._record = ClusterRecord(
            cluster_id=cluster_id,
            bin_dir=str(bin_dir),
            etcd_data_dir=str(_tmpfs_dir() / f"modeldeploy-etcd-{cluster_id}"),
            node_name=NODE_NAME,
            etcd_client_port=ports[0],
            etcd_peer_port=ports[1],
            apiserver_port=ports[2],
            controller_manager_port=ports[3],
            scheduler_port=ports[4],
            prometheus_port=ports[5],
            pod_discovery_port=ports[6],
            image_map=str(self.image_map) if self.image_map else None,
        )
        self._record.save(self.state.record)
        record = self._record
        keys = pki.generate(self.state.pki)
        write_kubeconfig(self.kubeconfig, record.apiserver_url, keys.ca.cert, keys.admin, "admin")
        write_kubeconfig(
            self.state.component_kubeconfig("controller-manager"),
            record.apiserver_url,
            keys.ca.cert,
            keys.controller_manager,
            "system:kube-controller-manager",
        )
        write_kubeconfig(
            self.state.component_kubeconfig("scheduler"),
            record.apiserver_url,
            keys.ca.cert,
            keys.scheduler,
            "system:kube-scheduler",
        )
        timeout = self.start_timeout_s

        self._spawn("etcd", control_plane.etcd_argv(record))
        etcd_health = f"http://127.0.0.1:{record.etcd_client_port}/health"
        wait_for(
            "etcd",
            lambda: insecure_get(etcd_health).status_code == 200,
            timeout,
            abort=self._exited("etcd"),
        )

        self._spawn("kube-apiserver", control_plane.apiserver_argv(record, keys))
        api = ApiRest(record.apiserver_url, keys)
        try:
            wait_for(
                "kube-apiserver /readyz",
                lambda: api.get("/readyz").status_code == 200,
                timeout,
                interval_s=0.2,
                abort=self._exited("kube-apiserver"),
            )
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                crds_installed = pool.submit(
                    gateway_api.install, bin_dir / "kubectl", self.kubeconfig, crds
                )
                self._spawn(
                    "kube-controller-manager",
                    control_plane.controller_manager_argv(record, keys, self.state),
                )
                self._spawn("kube-scheduler", control_plane.scheduler_argv(record, self.state))
                self._spawn_node_agent()
                self._spawn_pod_discovery()
                self._spawn_prometheus(prometheus_binary)
                self._wait_ready(api, timeout)
                crds_installed.result(timeout=timeout)
        finally:
            api.close()

    def _wait_ready(self, api: ApiRest, timeout: float) -> None:
        record = self.record
        for component, port in (
            ("kube-controller-manager", record.controller_manager_port),
            ("kube-scheduler", record.scheduler_port),
        ):
            url = f"https://127.0.0.1:{port}/healthz"
            wait_for(
                f"{component} /healthz",
                lambda url=url: insecure_get(url).status_code == 200,  # type: ignore[misc]
                timeout,
                interval_s=0.2,
                abort=self._exited(component),
            )
        wait_for(
            f"node {record.node_name} to be Ready",
            lambda: _node_ready(api.get_json(f"/api/v1/nodes/{record.node_name}")),
            timeout,
            interval_s=0.2,
            abort=self._exited("node-agent"),
        )
        wait_for(
            "the default ServiceAccount",
            lambda: api.get_json("/api/v1/namespaces/default/serviceaccounts/default") is not None,
            timeout,
            interval_s=0.2,
            abort=self._exited("kube-controller-manager"),
        )
        discovery = f"{record.pod_discovery_url}/healthz"
        wait_for(
            "pod discovery",
            lambda: insecure_get(discovery).status_code == 200,
            timeout,
            abort=self._exited("pod-discovery"),
        )
        self._wait_prometheus(timeout)

    def _exited(self, component: str) -> Any:
        def check() -> str | None:
            proc = self._procs.get(component)
            if proc is not None and proc.poll() is not None:
                return f"{component} exited with code {proc.returncode}"
            return None

        return check

    def _spawn(self, name: str, argv: list[str], cwd: Path | None = None) -> None:
        env = {**os.environ, procs.CLUSTER_MARKER_ENV: self.record.cluster_id}
        # Our own kubeconfig is passed explicitly; a user's must never leak into a component.
        env.pop("KUBECONFIG", None)
        proc, record = procs.spawn(name, argv, self.state.log(name), env=env, cwd=cwd)
        record.save(self.state.process_file(name))
        self._procs[name] = proc

    def _node_agent_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "e2e.localcluster.node_agent",
            f"--kubeconfig={self.kubeconfig}",
            f"--node-name={self.record.node_name}",
            f"--state-dir={self.state.node_agent}",
            f"--pods-dir={self.state.pods}",
            f"--python={self.python}",
            f"--cluster-id={self.record.cluster_id}",
        ]
        if self.image_map:
            argv.append(f"--image-map={self.image_map}")
        if self.backoff_base_s is not None:
            argv.append(f"--backoff-base={self.backoff_base_s}")
        return argv

    def _spawn_node_agent(self) -> None:
        self._spawn("node-agent", self._node_agent_argv(), cwd=REPO_ROOT)

    def _spawn_pod_discovery(self) -> None:
        keys = self.pki
        argv = [
            sys.executable,
            "-m",
            "e2e.localcluster.pod_discovery",
            f"--server={self.record.apiserver_url}",
            f"--ca={keys.ca.cert}",
            f"--cert={keys.admin.cert}",
            f"--key={keys.admin.key}",
            f"--port={self.record.pod_discovery_port}",
        ]
        self._spawn("pod-discovery", argv, cwd=REPO_ROOT)

    def _spawn_prometheus(self, binary: Path) -> None:
        discovery = f"{self.record.pod_discovery_url}{TARGETS_PATH}"
        config = prom.write_config(
            self.state.prometheus / "prometheus.yml",
            prom.prometheus_config(discovery, self.scrape_interval),
        )
        argv = prom.prometheus_argv(
            binary, config, self.state.prometheus / "data", self.record.prometheus_port
        )
        self._spawn("prometheus", argv, cwd=self.state.prometheus)

    def _wait_prometheus(self, timeout: float) -> None:
        url = f"{self.prometheus_url}/-/ready"
        wait_for(
            "prometheus /-/ready",
            lambda: insecure_get(url).status_code == 200,
            timeout,
            interval_s=0.2,
            abort=self._exited("prometheus"),
        )

    # Prometheus on its own ---------------------------------------------------------------

    def stop_prometheus(self) -> None:
        """Stops Prometheus; queries fail until start_prometheus() (its data is kept)."""
        self._stop_component("prometheus")

    def start_prometheus(self, timeout_s: float = 60) -> None:
        """Starts Prometheus again on the same port and waits until it is ready."""
        running = self.running_components().get("prometheus")
        if running:
            return
        self._spawn_prometheus(find_prometheus())
        self._wait_prometheus(timeout_s)

    # The node agent on its own ----------------------------------------------------------

    def restart_node_agent(self, *, crash: bool = False, timeout_s: float = 60) -> None:
        """Restarts the node agent; with crash=True it is SIGKILLed first, as if it had died,
        leaving its pods' processes behind for the new agent to clean up."""
        if crash:
            record = self.state.load_process("node-agent")
            proc = self._procs.pop("node-agent", None)
            if record is not None and procs.is_running(record):
                os.kill(record.pid, signal.SIGKILL)
            if proc is not None:
                proc.wait(timeout=10)
            self.state.process_file("node-agent").unlink(missing_ok=True)
        else:
            self._stop_component("node-agent")
        log = self.state.log("node-agent")
        before = log.read_text().count("re-registered node")
        self._spawn_node_agent()
        api = ApiRest(self.record.apiserver_url, self.pki)
        try:
            wait_for(
                "the restarted node agent",
                lambda: log.read_text().count("re-registered node") > before,
                timeout_s,
                abort=self._exited("node-agent"),
            )
            wait_for(
                f"node {self.node_name} to be Ready",
                lambda: _node_ready(api.get_json(f"/api/v1/nodes/{self.node_name}")),
                timeout_s,
            )
        finally:
            api.close()

    # Teardown ----------------------------------------------------------------------------

    def _stop_component(self, name: str) -> None:
        path = self.state.process_file(name)
        record = procs.ProcessRecord.load(path)
        proc = self._procs.pop(name, None)
        grace = _GRACE_S.get(name, 10.0)
        if proc is not None:
            # A leader that is gone already may have left members of its group behind.
            procs.terminate_group(proc.pid, grace if proc.poll() is None else 0, proc)
        if record is not None and (proc is None or record.pid != proc.pid):
            # Started by another handle on this cluster (another process, or a restart).
            procs.stop_record(record, grace)
        path.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stops every process of the cluster and frees its tmpfs; logs stay in the state dir."""
        atexit.unregister(self.stop)
        names = list(_STOP_ORDER)
        names += sorted(
            {p.stem for p in self.state.process_files()} | set(self._procs) - set(names)
        )
        for name in names:
            self._stop_component(name)
        self._stop_orphaned_pods()
        record = self._record or ClusterRecord.load(self.state.record)
        if record is not None:
            procs.kill_marked(record.cluster_id)
            shutil.rmtree(record.etcd_data_dir, ignore_errors=True)

    def _stop_orphaned_pods(self) -> None:
        """Pod processes whose agent died without stopping them."""
        pid_dir = self.state.node_agent / "pids"
        for path in sorted(pid_dir.glob("*.json")) if pid_dir.is_dir() else []:
            record = procs.ProcessRecord.load(path)
            if record is not None:
                procs.stop_record(record, 2)
            path.unlink(missing_ok=True)

    def _stop_leftovers(self) -> None:
        """What a crashed earlier run in this state dir may have left."""
        if self.state.record.exists() or self.state.processes.is_dir():
            self.stop()

    # Diagnostics -------------------------------------------------------------------------

    def component_logs(self, tail_lines: int = 100) -> str:
        """The end of every component's and every pod container's log, for failure reports."""
        return collect_logs(self.state, tail_lines)


def _node_ready(node: dict[str, Any] | None) -> bool:
    if not node:
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    # A new node carries this taint until the node lifecycle controller has seen it Ready;
    # nothing is scheduled there before.
    taints = (node.get("spec") or {}).get("taints") or []
    return ready and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints)


def _tmpfs_dir() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
