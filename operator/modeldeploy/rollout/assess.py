"""What one run of the checks means for a rollout in flight, whatever its strategy: a failure
or too many inconclusive runs past their limits roll back; otherwise the strategy may move on
when the run passed."""

from __future__ import annotations

from enum import Enum

from modeldeploy.api.spec import RolloutSpec
from modeldeploy.api.status import RolloutState
from modeldeploy.rollout.state import ERROR, FAIL, INCONCLUSIVE, Analysis, Draft
from modeldeploy.rollout.transitions import roll_back


class Assessed(Enum):
    PASSED = "passed"
    HELD = "held"
    """A failure or an inconclusive run within its limit: no move either way."""
    ROLLED_BACK = "rolled back"


def assess(
    draft: Draft, state: RolloutState, rollout_spec: RolloutSpec, analysis: Analysis
) -> Assessed:
    state.last_analysis_at = draft.now_iso
    draft.checks = list(analysis.results)
    if analysis.verdict == FAIL:
        state.failures = (state.failures or 0) + 1
        if state.failures > rollout_spec.failure_limit:
            roll_back(draft, analysis.summary or "a check failed", cause="CheckFailed")
            return Assessed.ROLLED_BACK
        draft.emit(
            "Warning",
            "CheckFailed",
            f"{analysis.summary} ({state.failures}/{rollout_spec.failure_limit} tolerated)",
        )
        return Assessed.HELD
    if analysis.verdict in (INCONCLUSIVE, ERROR):
        state.inconclusive = (state.inconclusive or 0) + 1
        if state.inconclusive > rollout_spec.inconclusive_limit:
            roll_back(
                draft,
                f"checks inconclusive {state.inconclusive} times in a row: {analysis.summary}",
                cause="Inconclusive",
            )
            return Assessed.ROLLED_BACK
        draft.emit(
            "Warning",
            "CheckInconclusive",
            f"{analysis.summary} "
            f"({state.inconclusive}/{rollout_spec.inconclusive_limit} tolerated)",
        )
        return Assessed.HELD
    state.inconclusive = 0
    return Assessed.PASSED
