"""The operator's own Prometheus metrics: every decision is also a number."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
KUBE_REQUESTS = Counter(
    "modeldeploy_kube_requests_total",
    "Requests the operator made to the API server outside its watches",
    ["verb", "resource"],
)
RECONCILE_SECONDS = Histogram(
    "modeldeploy_reconcile_duration_seconds",
    "Time one reconcile took",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CHECK_LAG = Histogram(
    "modeldeploy_check_lag_seconds",
    "How late a due check ran: run time minus due time",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("modeldeploy_workqueue_depth", "Objects waiting for a reconcile")
OBJECTS = Gauge("modeldeploy_objects", "ModelDeployments in the watch cache")
LEADER = Gauge("modeldeploy_leader", "1 while this replica holds the leader Lease and acts")
ROLLBACKS = Counter("modeldeploy_rollbacks_total", "Rollbacks", ["namespace", "name"])
PROMOTIONS = Counter("modeldeploy_promotions_total", "Promotions", ["namespace", "name"])
NOTIFICATIONS = Counter(
    "modeldeploy_notifications_total",
    "Webhook notifications by outcome: sent, failed (after retries) or dropped (queue full)",
    ["outcome"],
)
ADMISSION_REVIEWS = Counter(
    "modeldeploy_admission_reviews_total",
    "Admission reviews answered, by kind and whether the object was allowed",
    ["kind", "allowed"],
)


def count_request(verb: str, resource: str) -> None:
    KUBE_REQUESTS.labels(verb, resource).inc()


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
