"""The rollout state machine: (spec, revision, status, world, checks, now) → what should be.

Every phase change happens in this package and nowhere else. The result names the replicas of
each revision's Deployment, which revisions are stable and canary, the canary weight the router
must set, the new status and the Events that explain it; the shell only applies it.

All rollout state lives in `status`, so an operator restarted at any moment continues at the
same step: the step index, when its weight was set and reached, when the checks last ran, and
the failure counters are all there.

`decide` dispatches; each release strategy is one module behind `strategy.Strategy`, picked by
`strategy.strategy_for`; the moves they share are in `transitions` and `undo`; `outcome` turns
the draft into status.
"""

from modeldeploy.rollout.decide import decide
from modeldeploy.rollout.outcome import refused_status
from modeldeploy.rollout.schedule import analysis_due, next_check_at
from modeldeploy.rollout.state import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PASS,
    PHASE_AWAITING_APPROVAL,
    PHASE_CANARY,
    PHASE_DEGRADED,
    PHASE_FAILED,
    PHASE_PAUSED,
    PHASE_PREVIEW,
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_ROLLED_BACK,
    PHASE_SHADOW,
    PHASES,
    UNGUARDED,
    Analysis,
    Decision,
    Event,
    Preflight,
    PreflightRecord,
    iso,
    parse_stamp,
    progress_deadline_s,
    resolved_steps,
    rollback_window_s,
    scale_down_delay_s,
    seconds_since,
)

__all__ = [
    "ERROR",
    "FAIL",
    "INCONCLUSIVE",
    "PASS",
    "PHASES",
    "PHASE_AWAITING_APPROVAL",
    "PHASE_CANARY",
    "PHASE_DEGRADED",
    "PHASE_FAILED",
    "PHASE_PAUSED",
    "PHASE_PREVIEW",
    "PHASE_PROGRESSING",
    "PHASE_READY",
    "PHASE_ROLLED_BACK",
    "PHASE_SHADOW",
    "UNGUARDED",
    "Analysis",
    "Decision",
    "Event",
    "Preflight",
    "PreflightRecord",
    "analysis_due",
    "decide",
    "iso",
    "next_check_at",
    "parse_stamp",
    "progress_deadline_s",
    "refused_status",
    "resolved_steps",
    "rollback_window_s",
    "scale_down_delay_s",
    "seconds_since",
]
