"""Probe and lifecycle-hook plans, and the kubelet's thresholds over probe results (no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from e2e.localcluster.node_agent.container_spec import (
    ContainerConfigError,
    container_port,
    localize_command,
)
from e2e.localcluster.node_agent.image_map import ImageMap

Manifest = Mapping[str, Any]


class ProbeKind(enum.StrEnum):
    STARTUP = "startup"
    READINESS = "readiness"
    LIVENESS = "liveness"

    @property
    def field(self) -> str:
        return f"{self.value}Probe"


@dataclass(frozen=True)
class HttpGet:
    scheme: str
    host: str
    port: int
    path: str
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"HTTP probe {self.scheme.lower()}://{self.host}:{self.port}{self.path}"


@dataclass(frozen=True)
class TcpSocket:
    host: str
    port: int

    def describe(self) -> str:
        return f"TCP probe {self.host}:{self.port}"


@dataclass(frozen=True)
class Exec:
    # Mapped to local commands, run with the container's environment in its working dir.
    argv: tuple[str, ...]

    def describe(self) -> str:
        return f"exec probe {list(self.argv)}"


@dataclass(frozen=True)
class Sleep:
    seconds: float

    def describe(self) -> str:
        return f"sleep {self.seconds}s"


ProbeAction = HttpGet | TcpSocket | Exec | Sleep


@dataclass(frozen=True)
class ProbeSpec:
    kind: ProbeKind
    action: ProbeAction
    initial_delay_s: float = 0
    period_s: float = 10
    timeout_s: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3


def plan_action(
    handler: Manifest,
    container: Manifest,
    pod_ip: str,
    image_map: ImageMap,
    values: Mapping[str, str],
    *,
    allow_sleep: bool = False,
) -> ProbeAction:
    """The action of a probe or a lifecycle hook. gRPC probes are checked as TCP connects."""
    if "httpGet" in handler:
        get = handler["httpGet"]
        path = str(get.get("path") or "/")
        return HttpGet(
            scheme=str(get.get("scheme") or "HTTP").upper(),
            host=str(get.get("host") or pod_ip),
            port=container_port(container, get.get("port")),
            path=path if path.startswith("/") else "/" + path,
            headers=tuple(
                (str(h.get("name", "")), str(h.get("value", "")))
                for h in get.get("httpHeaders") or []
            ),
        )
    if "tcpSocket" in handler:
        sock = handler["tcpSocket"]
        return TcpSocket(
            host=str(sock.get("host") or pod_ip), port=container_port(container, sock.get("port"))
        )
    if "grpc" in handler:
        return TcpSocket(host=pod_ip, port=container_port(container, handler["grpc"].get("port")))
    if "exec" in handler:
        command = [str(c) for c in handler["exec"].get("command") or []]
        if not command:
            raise ContainerConfigError("exec handler without a command")
        return Exec(tuple(localize_command(command, image_map, values)))
    if allow_sleep and "sleep" in handler:
        return Sleep(float(handler["sleep"].get("seconds", 0)))
    raise ContainerConfigError(f"unsupported handler {sorted(handler)}")


def plan_probes(
    container: Manifest, pod_ip: str, image_map: ImageMap, values: Mapping[str, str]
) -> dict[ProbeKind, ProbeSpec]:
    plans = {}
    for kind in ProbeKind:
        probe = container.get(kind.field)
        if not probe:
            continue
        plans[kind] = ProbeSpec(
            kind=kind,
            action=plan_action(probe, container, pod_ip, image_map, values),
            initial_delay_s=float(probe.get("initialDelaySeconds") or 0),
            period_s=float(probe.get("periodSeconds") or 10),
            timeout_s=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )
    return plans


class ProbeTracker:
    """One probe of one running container: when it is due and what the thresholds make of it.

    Results count only once `success_threshold` successes or `failure_threshold` failures
    follow each other, as in the kubelet's probe workers. Until then the initial result holds:
    failure for readiness and startup, success for liveness.
    """

    def __init__(self, spec: ProbeSpec, container_started_at: float) -> None:
        self.spec = spec
        self.next_due = container_started_at + spec.initial_delay_s
        self.result = spec.kind is ProbeKind.LIVENESS
        self.in_flight = False
        self._run_success = 0
        self._run_failure = 0
        self.last_message = ""

    def due(self, now: float) -> bool:
        return not self.in_flight and now >= self.next_due

    def delay_until(self, earliest: float) -> None:
        self.next_due = max(self.next_due, earliest)

    def record(self, success: bool, now: float, message: str = "") -> bool:
        """Feeds one result; returns the thresholded result."""
        self.in_flight = False
        self.next_due = now + self.spec.period_s
        self.last_message = message
        if success:
            self._run_success += 1
            self._run_failure = 0
            if self._run_success >= self.spec.success_threshold:
                self.result = True
        else:
            self._run_failure += 1
            self._run_success = 0
            if self._run_failure >= self.spec.failure_threshold:
                self.result = False
        return self.result

    @property
    def consecutive_failures(self) -> int:
        return self._run_failure


def describe_probe_failure(kind: ProbeKind, message: str) -> str:
    return f"{kind.value.capitalize()} probe failed: {message}"


def lifecycle_handler(container: Manifest, hook: str) -> Manifest | None:
    """The container's preStop or postStart handler, if any."""
    lifecycle = container.get("lifecycle") or {}
    handler = lifecycle.get(hook)
    return handler if isinstance(handler, Mapping) and handler else None
