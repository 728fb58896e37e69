"""The operator's own Prometheus metrics: every decision is also a number."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, start_http_server

RECONCILES = Counter(
    "modeldeploy_reconciles_total", "Reconciles by outcome", ["namespace", "name", "outcome"]
)
PHASE = Gauge(
    "modeldeploy_phase",
    "1 for the current phase of each ModelDeployment",
    ["namespace", "name", "phase"],
)
READY_REPLICAS = Gauge(
    "modeldeploy_ready_replicas", "Ready replicas of the stable revision", ["namespace", "name"]
)
CANARY_WEIGHT = Gauge(
    "modeldeploy_canary_weight", "Percent of traffic sent to the canary", ["namespace", "name"]
)
EVENTS = Counter(
    "modeldeploy_decisions_total",
    "Decisions taken, by Event reason",
    ["namespace", "name", "reason"],
)

KNOWN_PHASES = ("Progressing", "Ready", "Degraded", "Failed")


def record_phase(namespace: str, name: str, phase: str) -> None:
    for known in {*KNOWN_PHASES, phase}:
        PHASE.labels(namespace, name, known).set(1 if known == phase else 0)


def forget(namespace: str, name: str) -> None:
    """Drops the series of a deleted ModelDeployment."""
    for known in KNOWN_PHASES:
        with contextlib.suppress(KeyError):
            PHASE.remove(namespace, name, known)
    for gauge in (READY_REPLICAS, CANARY_WEIGHT):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


def serve(port: int) -> None:
    start_http_server(port)
