"""Which pods the operator counts as crashed, from their status as the API server gives it."""

from __future__ import annotations

from typing import Any

from modeldeploy.api.observed import Crash, crash_of


def pod(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    meta = {"name": "m-r2-a", **extra.pop("metadata", {})}
    return {
        "metadata": meta,
        "status": {"phase": "Running", "containerStatuses": list(containers), **extra},
    }


def test_a_running_pod_that_never_restarted_has_not_crashed() -> None:
    assert crash_of(pod({"restartCount": 0, "state": {"running": {}}})) is None


def test_a_restarted_container_counts_with_how_it_last_ended() -> None:
    found = crash_of(
        pod(
            {
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 137}},
            }
        )
    )
    assert found == Crash("m-r2-a", 3, "Error, exit code 137")


def test_a_container_dead_and_not_yet_restarted_counts_once() -> None:
    found = crash_of(
        pod({"restartCount": 0, "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}})
    )
    assert found == Crash("m-r2-a", 1, "OOMKilled")


def test_pods_being_deleted_or_evicted_are_replaced_not_crashed() -> None:
    dead = {"restartCount": 1, "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
    assert crash_of(pod(dead, metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})) is None
    assert crash_of(pod(dead, phase="Failed", reason="Evicted")) is None


def test_a_crash_describes_itself() -> None:
    assert Crash("p", 1, "OOMKilled").describe() == "pod p crashed once (last: OOMKilled)"
    assert Crash("p", 4, "Error, exit code 2").describe() == (
        "pod p crashed 4 times (last: Error, exit code 2)"
    )
