"""The gate before any client traffic: the new revision's model schema against the stable's,
and its smoke test. A canary passes it once its first pods are Ready and before they get any
weight; a first deploy passes its smoke test before it becomes stable."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

from modeldeploy.api.spec import ModelDeploymentSpec
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


def next_try_at(status: dict[str, Any], tz: tzinfo | None) -> datetime | None:
    """When the shell should run the preflight: at once when it is pending, a little after a
    try that could not reach the pods; None when nothing is pending."""
    record = (status.get("rollout") or {}).get("preflight") or {}
    if record.get("phase") != "Pending":
        return None
    if not record.get("attempts") or not record.get("at"):
        return datetime.min.replace(tzinfo=tz)
    return parse_stamp(record["at"], tz) + timedelta(seconds=RETRY_S)


def due(status: dict[str, Any], revision: str, now: datetime) -> bool:
    """Whether the shell should run the preflight of `revision` (the one the spec asks for)
    before deciding; one pending for a revision the spec has left is not run."""
    if (status.get("rollout") or {}).get("revision") != revision:
        return False
    moment = next_try_at(status, now.tzinfo)
    return moment is not None and now >= moment


def cause_of(result: Preflight) -> str:
    if result.verdict == ERROR:
        return PREFLIGHT_UNREACHABLE
    return result.cause or SMOKE_TEST_FAILED


def check(draft: Draft, state: dict[str, Any], result: Preflight | None, limit: int) -> Gate:
    """Moves the gate recorded in `state["preflight"]` on with `result`. On FAILED the record
    there says what failed; the caller rolls back with `cause_of(result)`."""
    record = dict(state.get("preflight") or {})
    if record.get("phase") == "Passed":
        return Gate.PASSED
    if result is None:
        state["preflight"] = {**record, "phase": "Pending"}
        return Gate.WAITING
    ran = {**result.record, "at": draft.now_iso, "message": result.message}
    if result.verdict == PASS:
        state["preflight"] = {**ran, "phase": "Passed"}
        draft.emit("Normal", "PreflightPassed", f"{draft.revision}: {result.message}")
        return Gate.PASSED
    if result.verdict == FAIL:
        state["preflight"] = {**ran, "phase": "Failed"}
        return Gate.FAILED
    attempts = int(record.get("attempts") or 0) + 1
    if attempts > limit:
        state["preflight"] = {**ran, "phase": "Failed", "attempts": attempts}
        return Gate.FAILED
    state["preflight"] = {**ran, "phase": "Pending", "attempts": attempts}
    draft.emit("Warning", "PreflightError", f"{result.message} ({attempts}/{limit} tolerated)")
    return Gate.WAITING


def waiting_text(state: dict[str, Any]) -> str:
    record = state.get("preflight") or {}
    if record.get("attempts"):
        return f"before any traffic: preflight to be tried again ({record.get('message')})"
    return "before any traffic: checking the new revision's model schema and smoke test"
