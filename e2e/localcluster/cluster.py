"""LocalCluster: a real Kubernetes control plane and node, with CoreDNS, Prometheus, a model
store and a Gateway API gateway (Traefik) running on it, the whole cluster inside a network
namespace of its own.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from e2e.localcluster import addons, control_plane, gateway, gateway_api, images, node, pki, procs
from e2e.localcluster import prometheus as prom
from e2e.localcluster.binaries import find_bin_dir, find_go_binaries
from e2e.localcluster.forward import forward_argv
from e2e.localcluster.kubeconfig import run_kubectl, write_kubeconfig
from e2e.localcluster.logs import collect_logs
from e2e.localcluster.netns import NODE_IP, NetworkNamespace
from e2e.localcluster.ports import free_ports
from e2e.localcluster.rest import ApiRest, insecure_get, wait_for
from e2e.localcluster.state import ClusterRecord, StateLayout

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_NAME = "localnode"

# Inside the cluster's network namespace every cluster may use the same ports.
_NETNS_PORTS = {"etcd-client": 2379, "etcd-peer": 2380, "controller-manager": 10257,
                "scheduler": 10259}  # fmt: skip

# Stop order: the node first so that pods end gracefully while the API is still there, the
# API server before etcd so that it does not hang on a vanished store.
_STOP_ORDER = (
    "forward-gateway",
    "forward-model-store",
    "forward-prometheus",
    "forward-apiserver",
    "kube-proxy",
    "kubelet",
    "containerd",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
)
_GRACE_S = {"kube-apiserver": 5.0, "etcd": 5.0, "kubelet": 5.0}


class ClusterStartError(RuntimeError):
    """Start-up failed; the message ends with the components' logs."""


class LocalCluster:
    """A cluster whose state lives in state_dir.

    start() returns once the API server is healthy, the `default` ServiceAccount exists, the
    node is Ready, the Gateway API CRDs are established, CoreDNS, Prometheus and the model
    store answer, and the Gateway `local` is Accepted and Programmed and answers; stop() leaves
    no process, namespace, mount or cgroup behind.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        scrape_interval: str = "2s",
        max_restart_period: str | None = node.FAST_RESTART,
        start_timeout_s: float = 180,
    ) -> None:
        self.state = StateLayout(Path(state_dir).resolve())
        self.scrape_interval = scrape_interval
        self.max_restart_period = max_restart_period
        self.start_timeout_s = start_timeout_s
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._spawned: dict[str, tuple[list[str], Path | None]] = {}
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
        for path in cluster.state.process_files():
            record = procs.ProcessRecord.load(path)
            if record is not None and record.argv:
                cwd = Path(record.cwd) if record.cwd else None
                cluster._spawned[record.name] = (list(record.argv), cwd)
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
    def model_store_url(self) -> str:
        return self.record.model_store_url

    @property
    def gateway_url(self) -> str:
        """The Gateway `local` (gateway-system), as the host reaches it: http://127.0.0.1:<port>."""
        return self.record.gateway_url

    @property
    def gateway_cluster_address(self) -> tuple[str, int]:
        """The gateway's Service (ClusterIP, port) inside the cluster's network namespace."""
        return (gateway.GATEWAY_SERVICE_IP, gateway.GATEWAY_PORT)

    @property
    def images(self) -> dict[str, str]:
        return dict(self.record.images)

    @property
    def node_name(self) -> str:
        return self.record.node_name

    @property
    def netns(self) -> NetworkNamespace:
        """The cluster's network namespace: pods and Services are reached from inside it."""
        return NetworkNamespace(self.record.netns)

    @property
    def node_layout(self) -> node.NodeLayout:
        return node.NodeLayout(self.record.cluster_id, self.record.node_name)

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
        for name in ("pki", "logs", "processes"):
            shutil.rmtree(root / name, ignore_errors=True)
        for stale in (self.state.record, self.state.kubeconfig):
            stale.unlink(missing_ok=True)
        for name in ("pki", "logs", "processes"):
            (root / name).mkdir()

    def _start(self) -> None:
        self._prepare_state_dir()
        bin_dir = find_bin_dir()
        built = images.build_all(find_go_binaries())
        crds = gateway_api.crd_dir()
        ports = free_ports(4)
        cluster_id = uuid.uuid4().hex[:12]
        netns = NetworkNamespace(f"modeldeploy-{cluster_id}")
        self._record = ClusterRecord(
            cluster_id=cluster_id,
            bin_dir=str(bin_dir),
            etcd_data_dir=str(_tmpfs_dir() / f"modeldeploy-etcd-{cluster_id}"),
            node_name=NODE_NAME,
            etcd_client_port=_NETNS_PORTS["etcd-client"],
            etcd_peer_port=_NETNS_PORTS["etcd-peer"],
            apiserver_port=ports[0],
            controller_manager_port=_NETNS_PORTS["controller-manager"],
            scheduler_port=_NETNS_PORTS["scheduler"],
            prometheus_port=ports[1],
            model_store_port=ports[2],
            netns=netns.name,
            images={key: ref for key, (ref, _) in built.items()},
            gateway_port=ports[3],
        )
        self._record.save(self.state.record)
        record = self._record
        netns.create()
        layout = self.node_layout
        keys = pki.generate(self.state.pki, NODE_NAME, NODE_IP)
        # The host's kubeconfig goes through the forwarder; the components, inside the
        # namespace, talk to the API server directly.
        write_kubeconfig(self.kubeconfig, record.apiserver_url, keys.ca.cert, keys.admin, "admin")
        inside = f"https://127.0.0.1:{node.APISERVER_PORT}"
        node.write_node_config(layout, keys, built["pause"][0], self.max_restart_period)
        for path, pair, user in (
            (self.state.component_kubeconfig("controller-manager"), keys.controller_manager,
             "system:kube-controller-manager"),
            (self.state.component_kubeconfig("scheduler"), keys.scheduler,
             "system:kube-scheduler"),
            (layout.config_dir / "kubelet.kubeconfig", keys.node, f"system:node:{NODE_NAME}"),
            (layout.config_dir / "kube-proxy.kubeconfig", keys.kube_proxy, "system:kube-proxy"),
        ):  # fmt: skip
            write_kubeconfig(path, inside, keys.ca.cert, pair, user)
        node.prepare_cgroups(layout.cgroup_root)
        timeout = self.start_timeout_s

        self._spawn("etcd", netns.argv(control_plane.etcd_argv(record)))
        etcd_health = f"http://127.0.0.1:{record.etcd_client_port}/health"
        wait_for(
            "etcd",
            lambda: netns.call(lambda: insecure_get(etcd_health).status_code == 200),
            timeout,
            abort=self._exited("etcd"),
        )
        apiserver = control_plane.apiserver_argv(
            record,
            keys,
            port=node.APISERVER_PORT,
            bind_address="0.0.0.0",
            advertise_address=NODE_IP,
        )
        self._spawn("kube-apiserver", netns.argv(apiserver))
        self._spawn_forward(
            "forward-apiserver", record.apiserver_port, NODE_IP, node.APISERVER_PORT
        )
        self._spawn("containerd", netns.argv(node.containerd_argv(layout)))
        api = ApiRest(record.apiserver_url, keys)
        try:
            wait_for(
                "kube-apiserver /readyz",
                lambda: api.get("/readyz").status_code == 200,
                timeout,
                interval_s=0.2,
                abort=self._exited("kube-apiserver"),
            )
            with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
                crds_installed = pool.submit(
                    gateway_api.install, bin_dir / "kubectl", self.kubeconfig, crds
                )
                wait_for(
                    "containerd's socket",
                    layout.containerd_socket.exists,
                    timeout,
                    abort=self._exited("containerd"),
                )
                images_imported = pool.submit(
                    node.import_images, layout, [tar for _, tar in built.values()]
                )
                self._spawn(
                    "kube-controller-manager",
                    netns.argv(control_plane.controller_manager_argv(record, keys, self.state)),
                )
                self._spawn(
                    "kube-scheduler", netns.argv(control_plane.scheduler_argv(record, self.state))
                )
                images_imported.result(timeout=timeout)
                self._spawn("kubelet", netns.argv(node.kubelet_argv(bin_dir, layout)))
                self._spawn("kube-proxy", netns.argv(node.kube_proxy_argv(bin_dir, layout)))
                self._wait_node_ready(api, netns, timeout)
                crds_installed.result(timeout=timeout)
            self.apply(addons.coredns_manifests(built["coredns"][0]))
            self.apply(addons.model_store_manifests(built["s3"][0]))
            self._install_prometheus(built["prometheus"][0])
            self.apply(gateway.gateway_manifests(built["traefik"][0]))
            self._spawn_forward(
                "forward-prometheus",
                record.prometheus_port,
                prom.PROMETHEUS_SERVICE_IP,
                prom.PROMETHEUS_PORT,
            )
            self._spawn_forward(
                "forward-model-store",
                record.model_store_port,
                addons.MODEL_STORE_SERVICE_IP,
                addons.MODEL_STORE_PORT,
            )
            self._spawn_forward(
                "forward-gateway",
                record.gateway_port,
                gateway.GATEWAY_SERVICE_IP,
                gateway.GATEWAY_PORT,
            )
            self._wait_prometheus(timeout)
            addons.wait_model_store(
                record.model_store_url, timeout, abort=self._exited("forward-model-store")
            )
            wait_for(
                "CoreDNS",
                lambda: _deployment_available(
                    api.get_json("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
                ),
                timeout,
                interval_s=0.2,
            )
            gateway.wait_gateway(
                api, record.gateway_url, timeout, abort=self._exited("forward-gateway")
            )
        finally:
            api.close()

    def _spawn_forward(self, name: str, port: int, host: str, target_port: int) -> None:
        self._spawn(name, forward_argv(port, self.netns.path, host, target_port), cwd=REPO_ROOT)

    def _wait_node_ready(self, api: ApiRest, netns: NetworkNamespace, timeout: float) -> None:
        record = self.record
        for component, port in (
            ("kube-controller-manager", record.controller_manager_port),
            ("kube-scheduler", record.scheduler_port),
        ):
            url = f"https://127.0.0.1:{port}/healthz"
            wait_for(
                f"{component} /healthz",
                lambda url=url: netns.call(  # type: ignore[misc]
                    lambda: insecure_get(url).status_code == 200
                ),
                timeout,
                interval_s=0.2,
                abort=self._exited(component),
            )
        wait_for(
            f"node {record.node_name} to be Ready",
            lambda: _node_ready(api.get_json(f"/api/v1/nodes/{record.node_name}")),
            timeout,
            interval_s=0.2,
            abort=self._first_exited("kubelet", "kube-proxy", "containerd"),
        )
        wait_for(
            "the default ServiceAccount",
            lambda: api.get_json("/api/v1/namespaces/default/serviceaccounts/default") is not None,
            timeout,
            interval_s=0.2,
            abort=self._exited("kube-controller-manager"),
        )

    @property
    def prometheus(self) -> prom.InClusterPrometheus:
        return prom.InClusterPrometheus(self._kubectl, self.prometheus_url, self.scrape_interval)

    def _install_prometheus(self, image: str) -> None:
        data = self.node_layout.root / "prometheus-data"
        data.mkdir(parents=True, exist_ok=True)
        os.chown(data, 65534, 65534)
        self.prometheus.install(image, data)

    def apply(self, manifests: list[dict[str, Any]]) -> None:
        """Server-side applies manifests as the cluster admin."""
        import yaml

        self._kubectl(
            "apply",
            "--server-side",
            "--field-manager=modeldeploy-localcluster",
            "-f",
            "-",
            input_text=yaml.safe_dump_all(manifests),
        )

    def _kubectl(self, *args: str, input_text: str | None = None) -> str:
        """kubectl as the cluster admin; its error output becomes the exception's message."""
        return run_kubectl(self.bin_dir / "kubectl", self.kubeconfig, *args, input_text=input_text)

    def _first_exited(self, *components: str) -> Any:
        checks = [self._exited(c) for c in components]

        def check() -> str | None:
            for c in checks:
                reason = c()
                if reason:
                    return str(reason)
            return None

        return check

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
        self._spawned[name] = (argv, cwd)

    # Faults -------------------------------------------------------------------------------

    RESTARTABLE = ("etcd", "kube-apiserver", "kubelet", "kube-proxy", "containerd")

    def stop_component(self, name: str, kill: bool = False) -> None:
        """Stops one component of a running cluster, as a crash (`kill`) or a shutdown would;
        `start_component` brings it back as it was."""
        if name not in self.RESTARTABLE or name not in self._spawned:
            raise ValueError(f"{name} cannot be stopped and started by this handle")
        grace = 0 if kill else _GRACE_S.get(name, 10.0)
        proc = self._procs.pop(name, None)
        if proc is not None:
            procs.terminate_group(proc.pid, grace, proc)
        else:
            # Started by another handle on this cluster (the process that brought it up).
            record = procs.ProcessRecord.load(self.state.process_file(name))
            if record is not None:
                procs.stop_record(record, grace)
        self.state.process_file(name).unlink(missing_ok=True)

    def start_component(self, name: str) -> None:
        argv, cwd = self._spawned[name]
        self._spawn(name, argv, cwd)

    def restart_component(self, name: str, kill: bool = False) -> None:
        self.stop_component(name, kill=kill)
        self.start_component(name)

    # Containers of the node's pods ------------------------------------------------------
    # Faults that strike one container as the machine would: a signal to its processes, its
    # processes frozen, its pod's network cut. `container_id` as a pod's status gives it
    # (`containerd://<id>`) or bare.

    def _ctr_task(self, *args: str) -> str:
        result = subprocess.run(
            node.ctr_argv(self.node_layout, "tasks", *args),
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ctr tasks {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def kill_container(self, container_id: str, signal: str = "SIGKILL") -> None:
        """Every process of the container gets `signal`; with SIGKILL it dies as an OOM kill
        would, and the kubelet restarts it in the same pod."""
        self._ctr_task("kill", "--all", "--signal", signal, _bare(container_id))

    def freeze_container(self, container_id: str) -> None:
        """Its processes stop running; the kernel still accepts connections to its ports, so
        clients wait for answers that do not come."""
        self._ctr_task("pause", _bare(container_id))

    def thaw_container(self, container_id: str) -> None:
        self._ctr_task("resume", _bare(container_id))

    def container_pid(self, container_id: str) -> int:
        for line in self._ctr_task("ls").splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == _bare(container_id):
                return int(fields[1])
        raise RuntimeError(f"no task for container {container_id}")

    def in_pod_network(self, container_id: str, *argv: str) -> None:
        """Runs `argv` (e.g. iptables) in the network namespace of the container's pod."""
        pid = self.container_pid(container_id)
        subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], check=True, timeout=30)

    def _wait_prometheus(self, timeout: float) -> None:
        self.prometheus.wait_ready(timeout, abort=self._exited("forward-prometheus"))

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
        record = self._record or ClusterRecord.load(self.state.record)
        layout = node.NodeLayout(record.cluster_id, record.node_name) if record else None
        for name in names:
            if name == "containerd" and layout is not None:
                # With the kubelet gone, the pods' containers end with their cgroups.
                node.remove_cgroups(layout.cgroup_root)
            self._stop_component(name)
        if record is not None and layout is not None:
            # containerd's shims run in sessions of their own and carry the marker.
            procs.kill_marked(record.cluster_id)
            shutil.rmtree(record.etcd_data_dir, ignore_errors=True)
            node.remove_cgroups(layout.cgroup_root)
            node.remove_node_state(layout)
            NetworkNamespace(record.netns).delete()

    def _stop_leftovers(self) -> None:
        """What a crashed earlier run in this state dir may have left."""
        if self.state.record.exists() or self.state.processes.is_dir():
            self.stop()

    # Diagnostics -------------------------------------------------------------------------

    def component_logs(self, tail_lines: int = 100) -> str:
        """The end of every component's and every pod container's log, for failure reports."""
        record = self._record or ClusterRecord.load(self.state.record)
        pod_logs = node.NodeLayout(record.cluster_id, record.node_name).pod_logs if record else None
        return collect_logs(self.state, tail_lines, pod_logs)


def _bare(container_id: str) -> str:
    return container_id.split("://", 1)[-1]


def _node_ready(node: dict[str, Any] | None) -> bool:
    if not node:
        return False
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    # A new node carries this taint until the node lifecycle controller has seen it Ready;
    # nothing is scheduled there before.
    taints = (node.get("spec") or {}).get("taints") or []
    return ready and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints)


def _deployment_available(deployment: dict[str, Any] | None) -> bool:
    conditions = ((deployment or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def _tmpfs_dir() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
