"""The operator's own Prometheus metrics: every decision is also a number."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, start_http_server

from modeldeploy.rollout import PHASES

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

EFFECTIVE_WEIGHT = Gauge(
    "modeldeploy_canary_effective_weight",
    "Percent of traffic the canary actually gets (ready-replica share or route weight)",
    ["namespace", "name"],
)
ROLLOUT_STEP = Gauge(
    "modeldeploy_rollout_step",
    "Index of the current rollout step, -1 when none",
    ["namespace", "name"],
)
CHECK_VALUE = Gauge(
    "modeldeploy_check_value", "Last value of each rollout check", ["namespace", "name", "check"]
)
CHECK_RESULTS = Counter(
    "modeldeploy_check_results_total",
    "Check results by verdict",
    ["namespace", "name", "check", "verdict"],
)
ROLLBACKS = Counter("modeldeploy_rollbacks_total", "Rollbacks", ["namespace", "name"])
PROMOTIONS = Counter("modeldeploy_promotions_total", "Promotions", ["namespace", "name"])


def record_phase(namespace: str, name: str, phase: str) -> None:
    for known in {*PHASES, phase}:
        PHASE.labels(namespace, name, known).set(1 if known == phase else 0)


def forget(namespace: str, name: str) -> None:
    """Drops the series of a deleted ModelDeployment."""
    for known in PHASES:
        with contextlib.suppress(KeyError):
            PHASE.remove(namespace, name, known)
    for gauge in (READY_REPLICAS, CANARY_WEIGHT, EFFECTIVE_WEIGHT, ROLLOUT_STEP):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


def serve(port: int) -> None:
    start_http_server(port)
