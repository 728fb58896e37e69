"""What the operator read from the cluster, reduced to the facts its decisions need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObservedDeployment:
    name: str
    revision: str
    replicas: int
    ready_replicas: int
    available_replicas: int
    uid: str = ""
    pods: int = 0
    """Its pods that are not terminating, Ready or not (the Deployment's status.replicas)."""


@dataclass(frozen=True)
class Crash:
    """A pod whose serving container died: restarted, or dead and waiting to be."""

    pod: str
    restarts: int
    last: str
    """How it last ended, e.g. "OOMKilled" or "Error, exit code 137"."""

    def describe(self) -> str:
        times = "once" if self.restarts == 1 else f"{self.restarts} times"
        return f"pod {self.pod} crashed {times} (last: {self.last})"


@dataclass(frozen=True)
class Observed:
    deployments: dict[str, ObservedDeployment] = field(default_factory=dict)
    crashes: dict[str, tuple[Crash, ...]] = field(default_factory=dict)
    """Per revision, its pods whose containers crashed; read only for a revision short of
    Ready pods, where a crash shows."""

    def ready(self, revision: str | None) -> int:
        if revision is None or revision not in self.deployments:
            return 0
        return self.deployments[revision].ready_replicas


def crash_of(pod: dict[str, Any]) -> Crash | None:
    """The crash a pod shows, if any. A pod being deleted, evicted or otherwise finished is
    not one: its Deployment replaces it, and the replacement starts with a clean count."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") in ("Failed", "Succeeded"):
        return None
    restarts, last = 0, ""
    for container in status.get("containerStatuses") or []:
        dead = (container.get("state") or {}).get("terminated")
        count = int(container.get("restartCount") or 0) + (1 if dead else 0)
        if count == 0:
            continue
        restarts += count
        ended = dead or (container.get("lastState") or {}).get("terminated") or {}
        last = _ending(ended)
    if restarts == 0:
        return None
    return Crash(pod=str(meta.get("name", "")), restarts=restarts, last=last or "unknown")


def _ending(terminated: dict[str, Any]) -> str:
    reason = str(terminated.get("reason") or "")
    code = terminated.get("exitCode")
    if reason == "OOMKilled" or code is None:
        return reason or "unknown"
    return f"{reason or 'exited'}, exit code {code}"
