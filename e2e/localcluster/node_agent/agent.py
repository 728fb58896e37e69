"""The node agent: registers the node, follows the pods bound to it, runs one worker per pod."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kubernetes.client.exceptions import ApiException

from e2e.localcluster.node_agent.backoff import BackoffPolicy
from e2e.localcluster.node_agent.events import EventRecorder
from e2e.localcluster.node_agent.image_map import load_image_map
from e2e.localcluster.node_agent.ip_pool import IpPool, claim_network
from e2e.localcluster.node_agent.kube import Kube, Obj
from e2e.localcluster.node_agent.node import HOST_IP, NodeHeartbeat
from e2e.localcluster.node_agent.pod_worker import AgentContext, PodWorker, agent_base_env
from e2e.localcluster.node_agent.runtime import ProcessRuntime
from e2e.localcluster.procs import CLUSTER_MARKER_ENV

log = logging.getLogger(__name__)

_WATCH_TIMEOUT_S = 60
_SHUTDOWN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AgentOptions:
    kubeconfig: Path
    node_name: str
    state_dir: Path
    pods_dir: Path
    python: str
    image_map: Path | None = None
    pod_cidr: str | None = None
    backoff_base_s: float = 10.0
    backoff_cap_s: float = 300.0
    cluster_id: str = ""


class NodeAgent:
    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self._stop = threading.Event()
        self._workers: dict[str, PodWorker] = {}
        # Pods whose worker finished (deleted by us): later events about them are stale.
        self._finished: set[str] = set()
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def stop(self) -> None:
        self._stop.set()

    def warn_once(self, feature: str, detail: str) -> None:
        if feature not in self._warned:
            self._warned.add(feature)
            log.warning("pods ask for %s, which is accepted and ignored: %s", feature, detail)

    def run(self) -> None:
        options = self.options
        options.state_dir.mkdir(parents=True, exist_ok=True)
        options.pods_dir.mkdir(parents=True, exist_ok=True)
        image_map = load_image_map(options.image_map)
        runtime = ProcessRuntime(options.state_dir / "pids")
        stale = runtime.cleanup_stale()
        if stale:
            log.info("stopped %d process(es) left by an earlier run", stale)
        kube = Kube(options.kubeconfig)
        existing = kube.get_node(options.node_name)
        preferred = ((existing or {}).get("spec") or {}).get("podCIDR") or options.pod_cidr
        lease = claim_network(preferred)
        heartbeat = NodeHeartbeat(kube, options.node_name, str(lease.network))
        heartbeat.register()
        heartbeat.start()
        server = urlsplit(kube.api_client.configuration.host)
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="probe"
        ) as probe_pool:
            self.ctx = AgentContext(
                kube=kube,
                node_name=options.node_name,
                host_ip=HOST_IP,
                pool=IpPool(lease.network),
                image_map=image_map,
                python=options.python,
                pods_dir=options.pods_dir,
                runtime=runtime,
                probes=probe_pool,
                backoff=BackoffPolicy(options.backoff_base_s, options.backoff_cap_s),
                base_env=agent_base_env(
                    (CLUSTER_MARKER_ENV, options.cluster_id),
                    (server.hostname or HOST_IP, server.port or 443),
                ),
                events=EventRecorder(kube, options.node_name),
                warn_once=self.warn_once,
            )
            log.info(
                "node %s ready: pod network %s, image map %s",
                options.node_name,
                lease.network,
                image_map.source,
            )
            watcher = threading.Thread(target=self._follow_pods, name="pod-watch", daemon=True)
            watcher.start()
            self._stop.wait()
            log.info("stopping: ending every pod's processes")
            heartbeat.stop()
            self._shutdown_workers()
        lease.close()

    # Following the API ---------------------------------------------------------------------

    def _follow_pods(self) -> None:
        kube = self.ctx.kube
        resource_version = ""
        while not self._stop.is_set():
            try:
                if not resource_version:
                    pods, resource_version = kube.list_pods(self.options.node_name)
                    self._resync(pods)
                for kind, pod in kube.watch_pods(
                    self.options.node_name, resource_version, _WATCH_TIMEOUT_S
                ):
                    if self._stop.is_set():
                        return
                    version = (pod.get("metadata") or {}).get("resourceVersion")
                    if version:
                        resource_version = str(version)
                    if kind != "BOOKMARK":
                        self._on_event(kind, pod)
            except ApiException as exc:
                if exc.status != 410:
                    log.warning("watching pods failed (%s); listing again", exc.status)
                    time.sleep(1)
                resource_version = ""
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("watching pods failed (%s); listing again", exc)
                resource_version = ""
                time.sleep(1)

    def _resync(self, pods: list[Obj]) -> None:
        seen = set()
        for pod in pods:
            seen.add(str(pod["metadata"]["uid"]))
            self._on_event("MODIFIED", pod)
        with self._lock:
            missing = [w for uid, w in self._workers.items() if uid not in seen]
        for worker in missing:
            worker.mark_gone()

    def _on_event(self, kind: str, pod: Obj) -> None:
        uid = str(pod["metadata"]["uid"])
        with self._lock:
            self._reap_workers()
            worker = self._workers.get(uid)
            if kind == "DELETED":
                self._finished.discard(uid)
                if worker is not None:
                    worker.mark_gone()
                return
            if worker is not None:
                worker.update(pod)
                return
            if uid in self._finished or self._stop.is_set():
                return
            worker = PodWorker(self.ctx, pod)
            self._workers[uid] = worker
        worker.start()

    def _reap_workers(self) -> None:
        for uid, worker in list(self._workers.items()):
            if not worker.thread.is_alive() and worker.thread.ident is not None:
                del self._workers[uid]
                self._finished.add(uid)

    def _shutdown_workers(self) -> None:
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        deadline = time.monotonic() + _SHUTDOWN_TIMEOUT_S
        for worker in workers:
            worker.wait_stopped(max(0.1, deadline - time.monotonic()))
