"""What a kubelet decides for one pod, as a state machine fed with observations (no I/O).

The agent's shell asks for `actions(now)`, carries them out (start a process, run a probe,
kill a process) and reports back through the `on_*` methods. Time is always passed in, so the
whole behaviour is testable with a fake clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from e2e.localcluster.node_agent.backoff import BackoffPolicy, should_restart
from e2e.localcluster.node_agent.probes import (
    ProbeKind,
    ProbeSpec,
    ProbeTracker,
    describe_probe_failure,
)

Manifest = Mapping[str, Any]

DEFAULT_GRACE_S = 30.0


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    finished_at: float
    started_at: float | None = None
    container_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    type: str = "Normal"
    container: str | None = None


@dataclass(frozen=True)
class StartContainer:
    name: str


@dataclass(frozen=True)
class KillContainer:
    name: str
    grace_s: float
    message: str


@dataclass(frozen=True)
class RunProbe:
    name: str
    kind: ProbeKind
    generation: int
    spec: ProbeSpec


Action = StartContainer | KillContainer | RunProbe


@dataclass
class ContainerRecord:
    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    waiting_reason: str = "ContainerCreating"
    waiting_message: str | None = None
    started_at: float | None = None
    terminated: Terminated | None = None
    last_terminated: Terminated | None = None
    restart_count: int = 0
    container_id: str | None = None
    image_id: str | None = None
    started: bool = False
    ready: bool = False
    ever_started: bool = False
    next_start_at: float | None = 0.0
    starting: bool = False
    killing: bool = False
    backoff_steps: int = 0
    failed_attempts: int = 0
    generation: int = 0
    probes: dict[ProbeKind, ProbeTracker] = field(default_factory=dict)
    init: bool = False
    # An init container with restartPolicy Always: it keeps running beside the others.
    sidecar: bool = False

    @property
    def init_done(self) -> bool:
        """Whether the containers after this init container may start."""
        if self.sidecar:
            return self.state == "running" and self.started
        return (
            self.state == "terminated"
            and self.terminated is not None
            and (self.terminated.exit_code == 0)
        )

    @property
    def restart_pending(self) -> bool:
        return self.next_start_at is not None or self.starting


def new_container_id() -> str:
    return f"localprocess://{uuid.uuid4().hex}"


class PodLifecycle:
    def __init__(self, pod: Manifest, backoff: BackoffPolicy, now: float) -> None:
        spec = pod.get("spec") or {}
        self.pod_name = str((pod.get("metadata") or {}).get("name", ""))
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.grace_s = float(
            spec["terminationGracePeriodSeconds"]
            if spec.get("terminationGracePeriodSeconds") is not None
            else DEFAULT_GRACE_S
        )
        self.backoff = backoff
        self.terminating = False
        self.events: list[Event] = []
        self._kills: list[KillContainer] = []
        status = pod.get("status") or {}
        previous = {
            s.get("name"): s
            for key in ("containerStatuses", "initContainerStatuses")
            for s in status.get(key) or []
        }
        # An adopted pod that was initialized before keeps that: only its sidecars run again.
        initialized = any(
            c.get("type") == "Initialized" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        self.containers: dict[str, ContainerRecord] = {}
        self.init_order: list[str] = []
        for container in spec.get("initContainers") or []:
            record = self._add(container, previous)
            record.init = True
            record.sidecar = container.get("restartPolicy") == "Always"
            record.next_start_at = None
            if initialized and not record.sidecar:
                record.state = "terminated"
                record.terminated = Terminated(0, "Completed", now)
            self.init_order.append(record.name)
        for container in spec.get("containers") or []:
            self._add(container, previous).next_start_at = None
        self._advance_init(now)
        self.changed = True

    def _add(self, container: Manifest, previous: Mapping[Any, Any]) -> ContainerRecord:
        name = str(container.get("name"))
        record = ContainerRecord(name=name, image=str(container.get("image", "")))
        # A pod adopted from an earlier run of the agent keeps counting its restarts.
        old = previous.get(name) or {}
        record.restart_count = int(old.get("restartCount") or 0)
        record.ever_started = bool(
            record.restart_count or "running" in (old.get("state") or {}) or old.get("lastState")
        )
        if not record.ever_started:
            record.waiting_reason = "PodInitializing" if self.init_order else "ContainerCreating"
        self.containers[name] = record
        return record

    def _advance_init(self, now: float) -> None:
        """Starts the next init container, or the pod's containers once all are done."""
        if self.terminating:
            return
        for name in self.init_order:
            record = self.containers[name]
            if record.init_done:
                continue
            idle = record.state != "running" and not record.restart_pending
            if idle and not (record.state == "terminated" and record.terminated is not None):
                record.next_start_at = now
            return
        for record in self.containers.values():
            if not record.init and record.state == "waiting" and not record.restart_pending:
                record.next_start_at = now

    # Decisions --------------------------------------------------------------------------

    def actions(self, now: float) -> list[Action]:
        out: list[Action] = list(self._kills)
        self._kills.clear()
        for record in self.containers.values():
            if (
                not self.terminating
                and record.next_start_at is not None
                and now >= record.next_start_at
                and not record.starting
            ):
                record.starting = True
                record.next_start_at = None
                out.append(StartContainer(record.name))
            if record.state == "running" and not record.killing:
                out.extend(self._due_probes(record, now))
        return out

    def _due_probes(self, record: ContainerRecord, now: float) -> list[RunProbe]:
        runs = []
        for kind, tracker in record.probes.items():
            gated = kind is not ProbeKind.STARTUP and not record.started
            done = kind is ProbeKind.STARTUP and record.started
            if gated or done or not tracker.due(now):
                continue
            tracker.in_flight = True
            runs.append(RunProbe(record.name, kind, record.generation, tracker.spec))
        return runs

    def next_wakeup(self, now: float) -> float:
        """The earliest time at which `actions` may have something new to say."""
        times = []
        for record in self.containers.values():
            if record.next_start_at is not None and not self.terminating:
                times.append(record.next_start_at)
            if record.state == "running":
                times.extend(t.next_due for t in record.probes.values() if not t.in_flight)
        return max(now, min(times)) if times else now + 3600

    # Observations -----------------------------------------------------------------------

    def on_start_failed(self, name: str, reason: str, message: str, now: float) -> None:
        """The container could not even start (no image mapping, missing configmap, ...)."""
        record = self.containers[name]
        record.starting = False
        if reason == "ErrImagePull" and record.failed_attempts > 0:
            reason = "ImagePullBackOff"
        record.failed_attempts += 1
        record.state = "waiting"
        record.waiting_reason = reason
        record.waiting_message = message
        if not self.terminating:
            record.next_start_at = now + max(1.0, self.backoff.delay(record.failed_attempts))
        self._event("Failed", f"Error: {reason}: {message}", "Warning", name)
        self.changed = True

    def on_started(
        self,
        name: str,
        now: float,
        *,
        container_id: str,
        image_id: str,
        probes: Mapping[ProbeKind, ProbeSpec],
    ) -> None:
        record = self.containers[name]
        record.starting = False
        record.failed_attempts = 0
        if record.ever_started:
            record.restart_count += 1
        record.ever_started = True
        record.generation += 1
        record.state = "running"
        record.started_at = now
        record.terminated = None
        record.waiting_reason, record.waiting_message = "", None
        record.container_id = container_id
        record.image_id = image_id
        record.killing = False
        record.probes = {kind: ProbeTracker(spec, now) for kind, spec in probes.items()}
        record.started = ProbeKind.STARTUP not in record.probes
        record.ready = record.started and ProbeKind.READINESS not in record.probes
        self._event("Started", f"Started container {name}", container=name)
        if record.sidecar and record.started:
            self._advance_init(now)
        self.changed = True

    def on_exited(
        self,
        name: str,
        exit_code: int,
        now: float,
        message: str | None = None,
        reason: str | None = None,
    ) -> None:
        record = self.containers[name]
        record.starting = False
        info = Terminated(
            exit_code=exit_code,
            reason=reason or ("Completed" if exit_code == 0 else "Error"),
            finished_at=now,
            started_at=record.started_at,
            container_id=record.container_id,
            message=message,
        )
        ran_for = now - (record.started_at if record.started_at is not None else now)
        record.probes = {}
        record.started = False
        record.ready = False
        record.killing = False
        record.started_at = None
        if ran_for >= self.backoff.resets_after():
            record.backoff_steps = 0
        if not self.terminating and should_restart(self._policy_for(record), exit_code):
            delay = self.backoff.delay(record.backoff_steps)
            record.backoff_steps += 1
            record.last_terminated = info
            record.next_start_at = now + delay
            if delay > 0:
                record.state = "waiting"
                record.waiting_reason = "CrashLoopBackOff"
                record.waiting_message = (
                    f"back-off {_duration(delay)} restarting failed container={name} "
                    f"pod={self.pod_name}"
                )
                self._event(
                    "BackOff", f"Back-off restarting failed container {name}", "Warning", name
                )
            else:
                record.state = "terminated"
                record.terminated = info
        else:
            record.state = "terminated"
            record.terminated = info
            record.next_start_at = None
        if record.init:
            self._advance_init(now)
        self._stop_sidecars_when_done()
        self.changed = True

    def _policy_for(self, record: ContainerRecord) -> str:
        if record.sidecar:
            return "Always"
        if record.init:
            # A failed init container is retried unless the pod never restarts anything.
            return "Never" if self.restart_policy == "Never" else "OnFailure"
        return self.restart_policy

    def _stop_sidecars_when_done(self) -> None:
        """Once the pod's own containers have stopped for good, its sidecars stop too."""
        main = [r for r in self.containers.values() if not r.init]
        if not self.init_order or not main:
            return
        if any(r.state == "running" or r.restart_pending for r in main):
            return
        for record in self.containers.values():
            if record.sidecar:
                record.next_start_at = None
                if record.state == "running":
                    self._kill(record, "is a sidecar of a finished pod")

    def on_probe_result(
        self,
        name: str,
        kind: ProbeKind,
        generation: int,
        success: bool,
        now: float,
        message: str = "",
    ) -> None:
        record = self.containers[name]
        tracker = record.probes.get(kind)
        if record.generation != generation or tracker is None or record.state != "running":
            return  # a result about an earlier run of the container
        result = tracker.record(success, now, message)
        if not success:
            self._event("Unhealthy", describe_probe_failure(kind, message), "Warning", name)
        if kind is ProbeKind.STARTUP:
            if result:
                record.started = True
                for other in record.probes.values():
                    other.delay_until(now)
                record.ready = ProbeKind.READINESS not in record.probes
                if record.sidecar:
                    self._advance_init(now)
                self.changed = True
            elif tracker.consecutive_failures >= tracker.spec.failure_threshold:
                self._kill(record, "failed startup probe, will be restarted")
        elif kind is ProbeKind.LIVENESS:
            if not result:
                self._kill(record, "failed liveness probe, will be restarted")
        elif result != record.ready:
            record.ready = result
            self.changed = True

    def _kill(self, record: ContainerRecord, why: str) -> None:
        if record.killing:
            return
        record.killing = True
        message = f"Container {record.name} {why}"
        self._kills.append(KillContainer(record.name, self.grace_s, message))
        self._event("Killing", message, container=record.name)

    def terminate(self) -> list[str]:
        """The pod is being deleted: nothing starts any more. Returns what must be stopped."""
        self.terminating = True
        for record in self.containers.values():
            record.next_start_at = None
            record.ready = False
        self.changed = True
        return [r.name for r in self.containers.values() if r.state == "running" or r.starting]

    def finished(self) -> bool:
        """Every container has stopped for good."""
        if self.init_failed():
            return all(r.state != "running" for r in self.containers.values())
        return all(r.state != "running" and not r.restart_pending for r in self.containers.values())

    def init_failed(self) -> bool:
        """An init container failed and will not be retried: the pod has failed."""
        return any(
            r.init
            and not r.sidecar
            and r.state == "terminated"
            and r.terminated is not None
            and r.terminated.exit_code != 0
            for r in self.containers.values()
        )

    def running(self) -> list[str]:
        return [r.name for r in self.containers.values() if r.state == "running"]

    def drain_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def _event(
        self, reason: str, message: str, type_: str = "Normal", container: str | None = None
    ) -> None:
        self.events.append(Event(reason, message, type_, container))


def _duration(seconds: float) -> str:
    """Go's time.Duration formatting for whole and fractional seconds: 10s, 2m40s, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    text = f"{secs:g}s"
    return f"{int(minutes)}m{text}" if minutes else text
