"""The pod status a kubelet would report, from the lifecycle's records (no I/O)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from e2e.localcluster.node_agent.pod_lifecycle import ContainerRecord, Terminated

Manifest = Mapping[str, Any]

TERMINAL_PHASES = ("Succeeded", "Failed")
# Conditions this agent owns; any other condition on the pod (PodScheduled, readiness gates,
# DisruptionTarget, ...) is someone else's.
OWNED_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def initialized(records: Iterable[ContainerRecord]) -> bool:
    """Init containers are done; that stays so once the pod's own containers have run."""
    records = list(records)
    if any(not r.init and r.ever_started for r in records):
        return True
    return all(r.init_done for r in records if r.init)


def pod_phase(
    restart_policy: str, records: Iterable[ContainerRecord], previous_phase: str | None
) -> str:
    """The kubelet's getPhase: a container backing off after a crash counts as stopped."""
    if previous_phase in TERMINAL_PHASES:
        return previous_phase
    records = list(records)
    init = [r for r in records if r.init]
    failed_init = [
        r
        for r in init
        if not r.sidecar and r.state == "terminated" and r.terminated and r.terminated.exit_code
    ]
    if failed_init and restart_policy == "Never":
        return "Failed"
    if not initialized(records):
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for record in records:
        if record.init:
            continue
        if record.state == "running":
            running += 1
            continue
        ended = record.terminated if record.state == "terminated" else record.last_terminated
        if ended is None:
            waiting += 1
            continue
        stopped += 1
        succeeded += ended.exit_code == 0
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    if restart_policy == "Never":
        return "Failed"
    return "Running"


def _terminated(info: Terminated) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exitCode": info.exit_code,
        "reason": info.reason,
        "finishedAt": rfc3339(info.finished_at),
        "startedAt": rfc3339(info.started_at) if info.started_at is not None else None,
    }
    if info.container_id:
        out["containerID"] = info.container_id
    if info.message:
        out["message"] = info.message
    return out


def container_status(record: ContainerRecord) -> dict[str, Any]:
    state: dict[str, Any]
    if record.state == "running":
        state = {"running": {"startedAt": rfc3339(record.started_at or 0)}}
    elif record.state == "terminated" and record.terminated is not None:
        state = {"terminated": _terminated(record.terminated)}
    else:
        waiting: dict[str, Any] = {"reason": record.waiting_reason or "ContainerCreating"}
        if record.waiting_message:
            waiting["message"] = record.waiting_message
        state = {"waiting": waiting}
    status: dict[str, Any] = {
        "name": record.name,
        "image": record.image,
        "imageID": record.image_id or "",
        "started": record.started and record.state == "running",
        "ready": record.ready and record.state == "running",
        "restartCount": record.restart_count,
        "state": state,
        "lastState": (
            {"terminated": _terminated(record.last_terminated)} if record.last_terminated else {}
        ),
    }
    if record.container_id:
        status["containerID"] = record.container_id
    return status


@dataclass(frozen=True)
class _Condition:
    type: str
    status: bool
    reason: str | None = None
    message: str | None = None


def _conditions(
    pod: Manifest,
    records: list[ContainerRecord],
    phase: str,
    has_sandbox: bool,
    previous: list[Manifest],
) -> list[_Condition]:
    unready = [
        r.name
        for r in records
        if (not r.init or r.sidecar) and not (r.ready and r.state == "running")
    ]
    incomplete = (
        [] if initialized(records) else [r.name for r in records if r.init and not r.init_done]
    )
    if phase in TERMINAL_PHASES:
        containers_ready = _Condition("ContainersReady", False, "PodCompleted")
    elif unready:
        containers_ready = _Condition(
            "ContainersReady",
            False,
            "ContainersNotReady",
            f"containers with unready status: [{' '.join(unready)}]",
        )
    else:
        containers_ready = _Condition("ContainersReady", True)
    gates = [g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []]
    by_type = {c.get("type"): c for c in previous}
    missing_gates = [g for g in gates if (by_type.get(g) or {}).get("status") != "True"]
    if not containers_ready.status:
        ready = _Condition("Ready", False, containers_ready.reason, containers_ready.message)
    elif missing_gates:
        ready = _Condition(
            "Ready",
            False,
            "ReadinessGatesNotReady",
            f"corresponding condition of pod readiness gate {missing_gates} does not exist.",
        )
    else:
        ready = _Condition("Ready", True)
    return [
        _Condition("PodReadyToStartContainers", has_sandbox and phase not in TERMINAL_PHASES),
        _Condition(
            "Initialized",
            not incomplete,
            "ContainersNotInitialized" if incomplete else None,
            f"containers with incomplete status: [{' '.join(incomplete)}]" if incomplete else None,
        ),
        containers_ready,
        ready,
    ]


def compute_status(
    pod: Manifest,
    records: Iterable[ContainerRecord],
    *,
    restart_policy: str,
    pod_ip: str | None,
    host_ip: str,
    start_time: float,
    now: float,
) -> dict[str, Any]:
    """The full status the agent owns; lastTransitionTime moves only when a status flips."""
    records = list(records)
    old = pod.get("status") or {}
    previous: list[Manifest] = list(old.get("conditions") or [])
    phase = pod_phase(restart_policy, records, old.get("phase"))
    by_type = {c.get("type"): c for c in previous}
    generation = (pod.get("metadata") or {}).get("generation")
    # Conditions merge by type on the server; the ones this agent does not own are left alone.
    conditions: list[dict[str, Any]] = []
    for cond in _conditions(pod, records, phase, pod_ip is not None, previous):
        value = "True" if cond.status else "False"
        prior = by_type.get(cond.type) or {}
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": value,
            "lastProbeTime": None,
            "lastTransitionTime": (
                prior.get("lastTransitionTime")
                if prior.get("status") == value and prior.get("lastTransitionTime")
                else rfc3339(now)
            ),
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        # Explicit nulls: status is written as a strategic merge patch, which would otherwise
        # keep the reason of an earlier False next to a True.
        entry["reason"] = cond.reason
        entry["message"] = cond.message
        conditions.append(entry)
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": old.get("startTime") or rfc3339(start_time),
        "containerStatuses": [container_status(r) for r in records if not r.init],
    }
    init = [container_status(r) for r in records if r.init]
    if init:
        status["initContainerStatuses"] = init
    if generation is not None:
        status["observedGeneration"] = generation
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def status_differs(current: Manifest, desired: Manifest) -> bool:
    """Whether writing `desired` would change anything in the fields it sets."""
    return any(current.get(key) != value for key, value in desired.items())
