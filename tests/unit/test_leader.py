"""Leader election's pure rules: who may take the Lease, and what a write of it says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.runtime.leader import (
    LeaseRecord,
    LeaseTiming,
    Move,
    holder_pod_dead,
    lease_spec,
    next_move,
    record_of,
)
from modeldeploy.shell.config import default_identity

TIMING = LeaseTiming(lease_duration_s=10, renew_deadline_s=7, retry_period_s=2)


def held_by(holder: str, duration: float | None = 10, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, "2026-01-01T00:00:00.000000Z", duration, transitions)


def test_nobody_holds_it_so_take_it() -> None:
    assert next_move(None, "a", 0, TIMING) is Move.ACQUIRE
    assert next_move(held_by(""), "a", 0, TIMING) is Move.ACQUIRE, "handed back"


def test_the_holder_renews() -> None:
    assert next_move(held_by("a"), "a", 100, TIMING) is Move.RENEW


def test_a_live_holder_is_left_alone_and_a_silent_one_replaced() -> None:
    assert next_move(held_by("b"), "a", 9.9, TIMING) is Move.WAIT
    assert next_move(held_by("b"), "a", 10.1, TIMING) is Move.ACQUIRE


def test_the_lease_s_own_duration_rules_over_the_candidate_s() -> None:
    assert next_move(held_by("b", duration=30), "a", 20, TIMING) is Move.WAIT
    assert next_move(held_by("b", duration=None), "a", 11, TIMING) is Move.ACQUIRE


@given(unchanged=st.floats(0, 1000, allow_nan=False))
def test_a_holder_stops_before_a_standby_may_take_over(unchanged: float) -> None:
    """The holder gives up after renew_deadline without renewal; a standby may take over only
    after lease_duration of silence: the two windows never overlap."""
    standby_takes = next_move(held_by("b"), "a", unchanged, TIMING) is Move.ACQUIRE
    holder_still_acts = unchanged <= TIMING.renew_deadline_s
    assert not (standby_takes and holder_still_acts)


def test_timings_must_leave_the_holder_time_to_stop() -> None:
    with pytest.raises(ValueError):
        LeaseTiming(lease_duration_s=10, renew_deadline_s=10, retry_period_s=2)
    with pytest.raises(ValueError):
        LeaseTiming(lease_duration_s=10, renew_deadline_s=7, retry_period_s=7)


def test_taking_over_counts_a_transition_and_renewing_does_not() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    taken = lease_spec("a", now, TIMING, held_by("b", transitions=3), Move.ACQUIRE)
    assert taken == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 10,
        "renewTime": "2026-01-01T12:00:00.123456Z",
        "acquireTime": "2026-01-01T12:00:00.123456Z",
        "leaseTransitions": 4,
    }
    assert lease_spec("a", now, TIMING, None, Move.ACQUIRE)["leaseTransitions"] == 0
    assert (
        lease_spec("a", now, TIMING, held_by("", transitions=4), Move.ACQUIRE)["leaseTransitions"]
        == 4
    )
    renewed = lease_spec("a", now, TIMING, held_by("a", transitions=4), Move.RENEW)
    assert set(renewed) == {"holderIdentity", "leaseDurationSeconds", "renewTime"}


def test_a_lease_read_from_the_api() -> None:
    lease = {
        "metadata": {"name": "x"},
        "spec": {
            "holderIdentity": "pod-1",
            "renewTime": "2026-01-01T00:00:00.000000Z",
            "leaseDurationSeconds": 15,
            "leaseTransitions": 2,
        },
    }
    assert record_of(lease) == LeaseRecord("pod-1", "2026-01-01T00:00:00.000000Z", 15.0, 2)
    assert record_of({"metadata": {}, "spec": {}}) == LeaseRecord("", "", None, 0)


def test_a_replica_in_a_pod_is_its_pod_so_a_restarted_container_takes_its_lease_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POD_NAME", "modeldeploy-7d9f-abcde")
    assert default_identity() == "modeldeploy-7d9f-abcde"
    assert next_move(held_by(default_identity()), default_identity(), 0.0, TIMING) is Move.RENEW


def test_processes_outside_pods_on_one_host_are_told_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POD_NAME", raising=False)
    first, second = default_identity(), default_identity()
    assert first != second
    assert first.rsplit("_", 1)[0] == second.rsplit("_", 1)[0]


def test_a_holder_reported_dead_is_taken_over_once_it_missed_a_renewal() -> None:
    held = held_by("pod-1")
    # A read that saw no change since the one before it is drift, not a missed renewal.
    assert next_move(held, "pod-2", 4.2, TIMING, holder_dead=True) is Move.WAIT
    assert next_move(held, "pod-2", 5.5, TIMING, holder_dead=True) is Move.ACQUIRE
    assert next_move(held, "pod-2", 5.5, TIMING, holder_dead=False) is Move.WAIT
    assert next_move(held, "pod-1", 5.5, TIMING, holder_dead=True) is Move.RENEW


def pod_with(*states: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta = {"name": "pod-1", **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    return {"metadata": meta, "status": {"containerStatuses": [{"state": s} for s in states]}}


def test_only_a_pod_whose_containers_all_stopped_is_proof_of_death() -> None:
    assert holder_pod_dead(pod_with({"terminated": {"exitCode": 137}}))
    assert holder_pod_dead(pod_with({"waiting": {"reason": "CrashLoopBackOff"}}))
    assert not holder_pod_dead(pod_with({"running": {}}))
    assert not holder_pod_dead(pod_with({"terminated": {}}, {"running": {}}))
    assert not holder_pod_dead(pod_with({"terminated": {"exitCode": 0}}, deleting=True))
    assert not holder_pod_dead({"metadata": {"name": "pod-1"}, "status": {}})
