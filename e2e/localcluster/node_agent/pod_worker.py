"""One thread per pod: carries out the lifecycle's decisions and reports the pod's status."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from e2e.localcluster.node_agent.backoff import BackoffPolicy
from e2e.localcluster.node_agent.container_spec import (
    ContainerConfigError,
    PodContext,
    ProcessSpec,
    build_argv,
    image_env,
    image_id,
    resolve_env,
    unmapped_image_message,
)
from e2e.localcluster.node_agent.events import EventRecorder
from e2e.localcluster.node_agent.image_map import ImageMap
from e2e.localcluster.node_agent.ip_pool import IpPool
from e2e.localcluster.node_agent.kube import Kube
from e2e.localcluster.node_agent.pod_lifecycle import (
    Action,
    KillContainer,
    PodLifecycle,
    RunProbe,
    StartContainer,
    new_container_id,
)
from e2e.localcluster.node_agent.pod_status import TERMINAL_PHASES, compute_status
from e2e.localcluster.node_agent.probe_runner import run_action
from e2e.localcluster.node_agent.probes import lifecycle_handler, plan_action, plan_probes
from e2e.localcluster.node_agent.runtime import ContainerProcess, ProcessRuntime
from e2e.localcluster.node_agent.unsupported import unsupported_features

log = logging.getLogger(__name__)

Obj = dict[str, Any]

# Longest sleep between two looks at a pod when nothing is due: a safety net, since every
# change (API event, process exit, probe result) wakes the worker at once.
_IDLE_WAKEUP_S = 5.0
_SHUTDOWN_GRACE_S = 5.0


@dataclass
class AgentContext:
    """What every pod worker shares."""

    kube: Kube
    node_name: str
    host_ip: str
    pool: IpPool
    image_map: ImageMap
    python: str
    pods_dir: Path
    runtime: ProcessRuntime
    probes: concurrent.futures.ThreadPoolExecutor
    backoff: BackoffPolicy
    base_env: Mapping[str, str]
    events: EventRecorder
    warn_once: Callable[[str, str], None]


def pod_dir_name(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}_{meta.get('name')}_{str(meta.get('uid', ''))[:8]}"


class PodWorker:
    def __init__(self, ctx: AgentContext, pod: Obj) -> None:
        meta = pod["metadata"]
        self.ctx = ctx
        self.uid = str(meta["uid"])
        self.namespace = str(meta["namespace"])
        self.name = str(meta["name"])
        self._latest = pod
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._gone = False
        self._shutdown = False
        self.pod_dir = ctx.pods_dir / pod_dir_name(pod)
        self.workdir = self.pod_dir / "work"
        self.tmpdir = self.pod_dir / "tmp"
        self.pod_ip: str | None = None
        self._ip_held = False
        self.lifecycle: PodLifecycle | None = None
        self.processes: dict[str, ContainerProcess] = {}
        self._envs: dict[str, dict[str, str]] = {}
        self._probe_runs: dict[concurrent.futures.Future[tuple[bool, str]], RunProbe] = {}
        self._killing: set[str] = set()
        self._last_status: Obj | None = None
        self._start_time = time.time()
        self.thread = threading.Thread(
            target=self._run, name=f"pod-{self.namespace}/{self.name}", daemon=True
        )

    # Signals from the agent ---------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def update(self, pod: Obj) -> None:
        with self._lock:
            self._latest = pod
        self._wake.set()

    def mark_gone(self) -> None:
        """The pod object no longer exists (force-deleted): stop everything at once."""
        self._gone = True
        self._wake.set()

    def shutdown(self) -> None:
        """The agent is stopping: stop the processes, leave the pod object alone."""
        self._shutdown = True
        self._wake.set()

    @property
    def pod(self) -> Obj:
        with self._lock:
            return self._latest

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    # Main loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._main()
        except Exception:
            log.exception("pod %s: worker failed", self.key)
        finally:
            self._stop_all(_SHUTDOWN_GRACE_S)
            self._release_ip()

    def _main(self) -> None:
        pod = self.pod
        if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            self._idle_until_deleted()
            return
        self._setup(pod)
        lifecycle = self.lifecycle
        assert lifecycle is not None
        while True:
            # Cleared before looking, so that whatever happens meanwhile wakes the next wait.
            self._wake.clear()
            if self._shutdown or self._gone:
                return
            pod = self.pod
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._terminate(pod)
                return
            now = time.time()
            self._reap(now)
            self._collect_probe_results(now)
            for action in lifecycle.actions(now):
                self._execute(action, now)
            self._flush_events()
            self._publish()
            if lifecycle.finished() and not self.processes:
                self._release_ip()
            timeout = min(lifecycle.next_wakeup(time.time()) - time.time(), _IDLE_WAKEUP_S)
            self._wake.wait(max(0.005, timeout))

    def _idle_until_deleted(self) -> None:
        while not (self._shutdown or self._gone):
            self._wake.clear()
            if (self.pod.get("metadata") or {}).get("deletionTimestamp"):
                self.ctx.kube.delete_pod_now(self.namespace, self.name, self.uid)
                return
            self._wake.wait(_IDLE_WAKEUP_S)

    def _setup(self, pod: Obj) -> None:
        for directory in (self.workdir, self.tmpdir):
            directory.mkdir(parents=True, exist_ok=True)
        spec = pod.get("spec") or {}
        if spec.get("hostNetwork"):
            self.pod_ip = self.ctx.host_ip
        else:
            previous = (pod.get("status") or {}).get("podIP")
            if previous and self.ctx.pool.reserve(previous):
                self.pod_ip = previous
            else:
                self.pod_ip = self.ctx.pool.allocate()
            self._ip_held = True
        for feature, detail in unsupported_features(pod):
            self.ctx.warn_once(feature, detail)
        self.lifecycle = PodLifecycle(pod, self.ctx.backoff, time.time())
        log.info("pod %s: admitted with IP %s, files in %s", self.key, self.pod_ip, self.pod_dir)

    def _release_ip(self) -> None:
        if self._ip_held and self.pod_ip:
            self.ctx.pool.release(self.pod_ip)
            self._ip_held = False

    # Actions ------------------------------------------------------------------------------

    def _execute(self, action: Action, now: float) -> None:
        if isinstance(action, StartContainer):
            self._start_container(action.name, now)
        elif isinstance(action, KillContainer):
            self._kill_async(action.name, action.grace_s, action.message)
        elif isinstance(action, RunProbe):
            self._run_probe(action)

    def _container(self, name: str) -> Obj:
        spec = self.pod.get("spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if container.get("name") == name:
                result: Obj = container
                return result
        raise KeyError(name)

    def _context(self) -> PodContext:
        return PodContext(
            pod_ip=self.pod_ip or "",
            host_ip=self.ctx.host_ip,
            node_name=self.ctx.node_name,
            workdir=str(self.workdir),
            python=self.ctx.python,
        )

    def _base_env(self) -> dict[str, str]:
        return {
            **self.ctx.base_env,
            "HOME": str(self.workdir),
            "HOSTNAME": self.name,
            "TMPDIR": str(self.tmpdir),
        }

    def _start_container(self, name: str, now: float) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        container = self._container(name)
        image = str(container.get("image", ""))
        rule = self.ctx.image_map.resolve(image)
        if rule is None:
            message = unmapped_image_message(image, self.ctx.image_map)
            lifecycle.on_start_failed(name, "ErrImagePull", message, now)
            return
        pod = self.pod
        ctx = self._context()
        values = ctx.template_values(pod)
        try:
            env = resolve_env(
                pod,
                container,
                ctx,
                configmaps=self.ctx.kube.configmap_data,
                secrets=self.ctx.kube.secret_data,
                initial={**self._base_env(), **image_env(rule, values)},
            )
            argv = build_argv(container, rule, self.ctx.image_map, values, env)
            probes = plan_probes(container, ctx.pod_ip, self.ctx.image_map, values)
            if not argv:
                raise ContainerConfigError("no command specified")
        except (ContainerConfigError, ApiException) as exc:
            lifecycle.on_start_failed(name, "CreateContainerConfigError", str(exc), now)
            return
        log_path = self.log_path(name)
        container_id = new_container_id()
        try:
            process = self.ctx.runtime.start(
                f"{self.uid}.{name}",
                ProcessSpec(tuple(argv), env),
                self.workdir,
                log_path,
                on_exit=self._wake.set,
            )
        except OSError as exc:
            lifecycle.on_started(
                name, now, container_id=container_id, image_id=image_id(image, rule), probes={}
            )
            message = f"failed to start {argv!r}: {exc}"
            lifecycle.on_exited(name, 128, now, message=message, reason="StartError")
            log.warning("pod %s container %s: %s", self.key, name, message)
            return
        self.processes[name] = process
        self._envs[name] = env
        lifecycle.on_started(
            name, now, container_id=container_id, image_id=image_id(image, rule), probes=probes
        )
        log.info(
            "pod %s container %s: started pid %d %s (log %s)",
            self.key,
            name,
            process.proc.pid,
            argv,
            log_path,
        )
        self._post_start(container, env)

    def log_path(self, container: str) -> Path:
        return self.pod_dir / f"{container}.log"

    def _post_start(self, container: Obj, env: Mapping[str, str]) -> None:
        """Runs the postStart hook beside the container; a failure is logged, not fatal."""
        handler = lifecycle_handler(container, "postStart")
        if handler is not None:
            self.ctx.probes.submit(self._run_hook, "postStart", container, handler, env, 30)

    def _run_hook(
        self,
        hook: str,
        container: Obj,
        handler: Mapping[str, Any],
        env: Mapping[str, str],
        timeout_s: float,
    ) -> tuple[bool, str]:
        ctx = self._context()
        try:
            action = plan_action(
                handler,
                container,
                ctx.pod_ip,
                self.ctx.image_map,
                ctx.template_values(self.pod),
                allow_sleep=True,
            )
        except ContainerConfigError as exc:
            return False, str(exc)
        ok, message = run_action(action, timeout_s, env=env, cwd=self.workdir)
        if not ok:
            log.warning("pod %s: %s hook failed: %s", self.key, hook, message)
        return ok, message

    def _kill_async(self, name: str, grace_s: float, message: str) -> None:
        process = self.processes.get(name)
        if process is None or name in self._killing:
            return
        self._killing.add(name)
        log.info("pod %s: %s", self.key, message)

        def kill() -> None:
            try:
                self.ctx.runtime.kill(process, grace_s)
            finally:
                self._killing.discard(name)
                self._wake.set()

        threading.Thread(target=kill, name=f"kill-{self.key}/{name}", daemon=True).start()

    def _run_probe(self, run: RunProbe) -> None:
        env = self._envs.get(run.name, {})
        future = self.ctx.probes.submit(
            run_action, run.spec.action, run.spec.timeout_s, env=env, cwd=self.workdir
        )
        self._probe_runs[future] = run
        future.add_done_callback(lambda _: self._wake.set())

    # Observations -------------------------------------------------------------------------

    def _reap(self, now: float) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            del self.processes[name]
            log.info("pod %s container %s: exited with %d", self.key, name, code)
            lifecycle.on_exited(name, code, now)

    def _collect_probe_results(self, now: float) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        for future in [f for f in self._probe_runs if f.done()]:
            run = self._probe_runs.pop(future)
            try:
                ok, message = future.result()
            except Exception as exc:
                ok, message = False, f"probe error: {exc}"
            lifecycle.on_probe_result(run.name, run.kind, run.generation, ok, now, message)

    # Status and events --------------------------------------------------------------------

    def _publish(self) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        pod = self.pod
        status = compute_status(
            pod,
            lifecycle.containers.values(),
            restart_policy=lifecycle.restart_policy,
            pod_ip=self.pod_ip,
            host_ip=self.ctx.host_ip,
            start_time=self._start_time,
            now=time.time(),
        )
        if status == self._last_status:
            return
        try:
            updated = self.ctx.kube.patch_pod_status(self.namespace, self.name, status)
        except ApiException as exc:
            if exc.status == 404:
                self._gone = True
                return
            log.warning("pod %s: status update failed (%s); retrying", self.key, exc.status)
            self._wake.set()
            time.sleep(0.2)
            return
        self._last_status = status
        with self._lock:
            # A newer event may have arrived meanwhile; only keep ours if it is not older.
            if int(updated["metadata"].get("resourceVersion", 0)) >= int(
                self._latest["metadata"].get("resourceVersion", 0)
            ):
                self._latest = updated

    def _flush_events(self) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        for event in lifecycle.drain_events():
            self.ctx.events.record(self.pod, event)

    # Termination --------------------------------------------------------------------------

    def _terminate(self, pod: Obj) -> None:
        lifecycle = self.lifecycle
        assert lifecycle is not None
        meta = pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        deadline = time.time() + float(grace)
        lifecycle.terminate()
        self._publish()
        log.info("pod %s: terminating (grace %ss)", self.key, grace)
        threads = []
        for name, process in list(self.processes.items()):
            thread = threading.Thread(
                target=self._stop_container,
                args=(name, process, deadline),
                name=f"stop-{self.key}/{name}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        self._reap(time.time())
        self._flush_events()
        self._publish()
        self._release_ip()
        self.ctx.kube.delete_pod_now(self.namespace, self.name, self.uid)
        log.info("pod %s: stopped and deleted", self.key)

    def _stop_container(self, name: str, process: ContainerProcess, deadline: float) -> None:
        container = self._container(name)
        handler = lifecycle_handler(container, "preStop")
        if handler is not None and process.poll() is None:
            remaining = deadline - time.time()
            if remaining > 0:
                self._run_hook("preStop", container, handler, self._envs.get(name, {}), remaining)
        self.ctx.runtime.kill(process, max(0.0, deadline - time.time()))

    def _stop_all(self, grace_s: float) -> None:
        threads = []
        for process in list(self.processes.values()):
            if process.poll() is None:
                thread = threading.Thread(
                    target=self.ctx.runtime.kill, args=(process, grace_s), daemon=True
                )
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()
        for process in self.processes.values():
            process.poll()
        self.processes.clear()

    def wait_stopped(self, timeout_s: float) -> bool:
        self.thread.join(timeout_s)
        return not self.thread.is_alive()


def agent_base_env(cluster_marker: tuple[str, str], apiserver: tuple[str, int]) -> dict[str, str]:
    """What every container's environment starts from, before its image's and its own."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    for name in ("LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env["KUBERNETES_SERVICE_HOST"] = apiserver[0]
    env["KUBERNETES_SERVICE_PORT"] = str(apiserver[1])
    env[cluster_marker[0]] = cluster_marker[1]
    return env
