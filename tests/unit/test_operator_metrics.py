"""The operator's own metrics: a deleted object's series go, a finished rollout is timed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from modeldeploy import rollout
from modeldeploy.api.status import ModelDeploymentStatus, RolloutState
from modeldeploy.shell import metrics
from modeldeploy.shell.reconcile.record import record_metrics

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def series_of(namespace: str, name: str) -> list[str]:
    return [
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("name") == name
    ]


def decision(*events: rollout.Event) -> rollout.Decision:
    return rollout.Decision(
        replicas={"abc": 2},
        stable_revision="abc",
        canary_revision=None,
        weight=0,
        client_revisions=["abc"],
        status=ModelDeploymentStatus(phase="Ready", ready_replicas=2),
        events=list(events),
    )


def test_a_deleted_object_leaves_no_series_behind() -> None:
    for name in ("gone", "kept"):
        metrics.RECONCILES.labels("ns", name, "ok").inc()
        metrics.EVENTS.labels("ns", name, "Promoted").inc()
        metrics.CHECK_RESULTS.labels("ns", name, "error-rate", "Pass").inc()
        metrics.CHECK_VALUE.labels("ns", name, "error-rate").set(0.01)
        metrics.ROLLBACKS.labels("ns", name).inc()
        record_metrics("ns", name, ModelDeploymentStatus(), decision(), None, NOW)
    assert len(series_of("ns", "gone")) >= 10

    metrics.forget("ns", "gone")

    assert series_of("ns", "gone") == []
    assert len(series_of("ns", "kept")) >= 10


def test_a_promotion_and_a_rollback_are_timed_from_the_rollout_start() -> None:
    def count(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "modeldeploy_rollout_duration_seconds_count", {"outcome": outcome}
        )
        return value or 0.0

    def total(outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "modeldeploy_rollout_duration_seconds_sum", {"outcome": outcome}
        )
        return value or 0.0

    started = rollout.iso(NOW - timedelta(minutes=12))
    before = ModelDeploymentStatus(
        rollout=RolloutState(revision="def", version="v2", started_at=started)
    )
    promoted, rolled_back = count("Promoted"), count("RolledBack")
    promoted_sum = total("Promoted")

    record_metrics(
        "ns", "timed", before, decision(rollout.Event("Normal", "Promoted", "")), None, NOW
    )
    record_metrics(
        "ns", "timed", before, decision(rollout.Event("Normal", "Paused", "")), None, NOW
    )

    assert count("Promoted") == promoted + 1
    assert total("Promoted") - promoted_sum == 720.0
    assert count("RolledBack") == rolled_back
    record_metrics(
        "ns", "timed", before, decision(rollout.Event("Warning", "RolledBack", "")), None, NOW
    )
    assert count("RolledBack") == rolled_back + 1


def test_the_build_is_named() -> None:
    metrics.record_build()
    assert REGISTRY.get_sample_value("modeldeploy_build_info", {"version": "0.1.0"}) == 1.0


def test_the_revisions_that_serve_are_labelled_by_track() -> None:
    def tracks() -> dict[str, str]:
        return {
            sample.labels["track"]: sample.labels["revision"]
            for family in REGISTRY.collect()
            for sample in family.samples
            if sample.name == "modeldeploy_revision_info" and sample.labels["name"] == "tracked"
        }

    metrics.record_revisions("ns", "tracked", {"stable": "aaa", "canary": "bbb"})
    assert tracks() == {"stable": "aaa", "canary": "bbb"}
    metrics.record_revisions("ns", "tracked", {"stable": "bbb"})  # promoted
    assert tracks() == {"stable": "bbb"}
