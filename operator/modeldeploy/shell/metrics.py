"""The operator's own Prometheus metrics: every decision is also a number."""

from __future__ import annotations

import contextlib
from importlib import metadata
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram, Info, start_http_server

from modeldeploy.rollout import PHASES

# Series labelled by namespace and name first, which go when their ModelDeployment is deleted:
# each with its label names, in the order `remove` takes their values.
_PER_OBJECT: list[tuple[Counter | Gauge, tuple[str, ...]]] = []


PerObject = TypeVar("PerObject", Counter, Gauge)


def _per_object(kind: type[PerObject], name: str, doc: str, *labels: str) -> PerObject:
    names = ("namespace", "name", *labels)
    metric = kind(name, doc, names)
    _PER_OBJECT.append((metric, names))
    return metric


RECONCILES = _per_object(
    Counter, "modeldeploy_reconciles_total", "Reconciles by outcome", "outcome"
)
PHASE = _per_object(
    Gauge, "modeldeploy_phase", "1 for the current phase of each ModelDeployment", "phase"
)
READY_REPLICAS = _per_object(
    Gauge, "modeldeploy_ready_replicas", "Ready replicas of the stable revision"
)
CANARY_WEIGHT = _per_object(
    Gauge, "modeldeploy_canary_weight", "Percent of traffic sent to the canary"
)
EVENTS = _per_object(
    Counter, "modeldeploy_decisions_total", "Decisions taken, by Event reason", "reason"
)

EFFECTIVE_WEIGHT = _per_object(
    Gauge,
    "modeldeploy_canary_effective_weight",
    "Percent of traffic the canary actually gets (ready-replica share or route weight)",
)
ROLLOUT_STEP = _per_object(
    Gauge, "modeldeploy_rollout_step", "Index of the current rollout step, -1 when none"
)
CHECK_VALUE = _per_object(
    Gauge, "modeldeploy_check_value", "Last value of each rollout check", "check"
)
CHECK_RESULTS = _per_object(
    Counter, "modeldeploy_check_results_total", "Check results by verdict", "check", "verdict"
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
REVISION = _per_object(
    Gauge,
    "modeldeploy_revision_info",
    "1 for each revision that serves, by track (stable, canary): joins the serving pods' "
    "metrics, labelled by revision, to their ModelDeployment",
    "revision",
    "track",
)
ROLLBACKS = _per_object(Counter, "modeldeploy_rollbacks_total", "Rollbacks")
PROMOTIONS = _per_object(Counter, "modeldeploy_promotions_total", "Promotions")
NOTIFICATIONS = Counter(
    "modeldeploy_notifications_total",
    "Webhook notifications by outcome: sent, failed (after retries), refused (a target "
    "notifications may not reach) or dropped (queue full)",
    ["outcome"],
)
ADMISSION_REVIEWS = Counter(
    "modeldeploy_admission_reviews_total",
    "Admission reviews answered, by kind and whether the object was allowed",
    ["kind", "allowed"],
)


ROLLOUT_SECONDS = Histogram(
    "modeldeploy_rollout_duration_seconds",
    "How long a rollout ran, from its start to its promotion or rollback, by outcome",
    ["outcome"],
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400),
)
BUILD = Info("modeldeploy_build", "The operator's version")


def record_build() -> None:
    try:
        version = metadata.version("modeldeploy")
    except metadata.PackageNotFoundError:
        version = "unknown"
    BUILD.info({"version": version})


def count_request(verb: str, resource: str) -> None:
    KUBE_REQUESTS.labels(verb, resource).inc()


def record_phase(namespace: str, name: str, phase: str) -> None:
    for known in {*PHASES, phase}:
        PHASE.labels(namespace, name, known).set(1 if known == phase else 0)


# The revision series each object has now, so that a reconcile drops its own stale ones
# without reading every object's series (a reconcile is per object, one at a time).
_revisions: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}


def record_revisions(namespace: str, name: str, tracks: dict[str, str]) -> None:
    """Track -> revision of what serves now; a revision that stopped serving loses its series."""
    wanted = {(namespace, name, revision, track) for track, revision in tracks.items()}
    for labels in _revisions.get((namespace, name), set()) - wanted:
        with contextlib.suppress(KeyError):
            REVISION.remove(*labels)
    for labels in wanted:
        REVISION.labels(*labels).set(1)
    _revisions[(namespace, name)] = wanted


def forget(namespace: str, name: str) -> None:
    """Drops every series of a deleted ModelDeployment."""
    _revisions.pop((namespace, name), None)
    for metric, names in _PER_OBJECT:
        for labels in _series(metric, names):
            if labels[:2] == (namespace, name):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)


def _series(metric: Counter | Gauge, names: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {
        tuple(sample.labels[label] for label in names)
        for family in metric.collect()
        for sample in family.samples
        if all(label in sample.labels for label in names)
    }


def serve(port: int) -> None:
    record_build()
    start_http_server(port)
