"""The gate before any client traffic: the new revision's model schema against the stable's,
and its smoke test. A canary passes it once its first pods are Ready and before they get any
weight; a first deploy passes its smoke test before it becomes stable."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Literal

from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus, PreflightStatus, RolloutState
from modeldeploy.rollout.state import ERROR, FAIL, PASS, Draft, Preflight, parse_stamp

RETRY_S = 5.0
"""Between two tries when the new revision's pods could not be asked."""
INCOMPATIBLE_SCHEMA = "IncompatibleSchema"
SMOKE_TEST_FAILED = "SmokeTestFailed"
PREFLIGHT_UNREACHABLE = "PreflightUnreachable"


class Gate(Enum):
    PASSED = "passed"
    WAITING = "waiting"
    FAILED = "failed"


def needed(spec: ModelDeploymentSpec, has_stable: bool) -> bool:
    rollout = spec.rollout
    if rollout is None:
        return False
    return rollout.smoke_test is not None or (has_stable and rollout.schema_change == "Refuse")


def next_try_at(status: ModelDeploymentStatus, tz: tzinfo | None) -> datetime | None:
    """When the shell should run the preflight: at once when it is pending, a little after a
    try that could not reach the pods; None when nothing is pending."""
    record = status.rollout.preflight if status.rollout is not None else None
    if record is None or record.phase != "Pending":
        return None
    if not record.attempts or not record.at:
        return datetime.min.replace(tzinfo=tz)
    return parse_stamp(record.at, tz) + timedelta(seconds=RETRY_S)


def due(status: ModelDeploymentStatus, revision: str, now: datetime) -> bool:
    """Whether the shell should run the preflight of `revision` (the one the spec asks for)
    before deciding; one pending for a revision the spec has left is not run."""
    if status.rollout is None or status.rollout.revision != revision:
        return False
    moment = next_try_at(status, now.tzinfo)
    return moment is not None and now >= moment


def cause_of(result: Preflight) -> str:
    if result.verdict == ERROR:
        return PREFLIGHT_UNREACHABLE
    return result.cause or SMOKE_TEST_FAILED


def check(draft: Draft, state: RolloutState, result: Preflight | None, limit: int) -> Gate:
    """Moves the gate recorded in `state.preflight` on with `result`. On FAILED the record
    there says what failed; the caller rolls back with `cause_of(result)`."""
    record = state.preflight
    if record is not None and record.phase == "Passed":
        return Gate.PASSED
    if result is None:
        pending = record.model_copy() if record is not None else PreflightStatus(phase="Pending")
        pending.phase = "Pending"
        state.preflight = pending
        return Gate.WAITING
    if result.verdict == PASS:
        state.preflight = _ran(draft, result, "Passed")
        draft.emit("Normal", "PreflightPassed", f"{draft.revision}: {result.message}")
        return Gate.PASSED
    if result.verdict == FAIL:
        state.preflight = _ran(draft, result, "Failed")
        return Gate.FAILED
    attempts = (record.attempts if record is not None and record.attempts else 0) + 1
    if attempts > limit:
        state.preflight = _ran(draft, result, "Failed", attempts)
        return Gate.FAILED
    state.preflight = _ran(draft, result, "Pending", attempts)
    draft.emit("Warning", "PreflightError", f"{result.message} ({attempts}/{limit} tolerated)")
    return Gate.WAITING


def _ran(
    draft: Draft,
    result: Preflight,
    phase: Literal["Pending", "Passed", "Failed"],
    attempts: int | None = None,
) -> PreflightStatus:
    """The record of a preflight that ran now and found `result`."""
    found = result.record
    return PreflightStatus(
        phase=phase,
        at=draft.now_iso,
        attempts=attempts,
        message=result.message,
        smoke_passed=found.smoke_passed,
        smoke_total=found.smoke_total,
        failures=found.failures,
        schema_changes=found.schema_changes,
    )


def waiting_text(state: RolloutState) -> str:
    record = state.preflight
    if record is not None and record.attempts:
        return f"before any traffic: preflight to be tried again ({record.message})"
    return "before any traffic: checking the new revision's model schema and smoke test"
