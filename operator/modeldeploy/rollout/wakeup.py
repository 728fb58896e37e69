"""When the rollout state machine next needs to look at a ModelDeployment, from what it decided.

Everything else that moves an object on (its spec, a command annotation, a child's readiness)
arrives as a watch event. Only the passing of time has to be asked for: the next check due,
the progress deadline of a step or of the stable revision, and the end of the old stable's
scale-down delay and rollback window. The shell schedules exactly the moment returned here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

from modeldeploy.api.spec import ModelDeploymentSpec, parse_duration
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import (
    PHASE_PROGRESSING,
    next_check_at,
    parse_stamp,
    preflight,
    progress_deadline_s,
    rollback_window_s,
    scale_down_delay_s,
)

# Deadlines are compared with ">" on second-resolution stamps: look just after the moment, so
# the deadline has passed when the reconcile runs.
MARGIN = timedelta(milliseconds=10)


def next_wakeup(
    model_spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> datetime | None:
    """The earliest moment after `now` at which time alone changes the decision, or None.

    A moment already past is not returned: what it waits for (a canary's pods becoming Ready
    again, say) arrives as an event, and asking to look again at once would only spin.
    """
    future = [m + MARGIN for m in _moments(model_spec, status, now.tzinfo) if m + MARGIN > now]
    return min(future, default=None)


def _moments(
    model_spec: ModelDeploymentSpec, status: ModelDeploymentStatus, tz: tzinfo | None
) -> Iterator[datetime]:
    state = status.rollout
    rollout = model_spec.rollout
    if rollout is not None and state is not None and state.step is not None:
        check = next_check_at(model_spec, state, tz)
        if check is not None:
            yield check
        elif state.step_set_at:
            yield _after(state.step_set_at, parse_duration(rollout.progress_deadline), tz)
    retry = preflight.next_try_at(status, tz)
    if retry is not None:
        yield retry

    promoted_at = status.promoted_at
    if status.previous is not None and promoted_at:
        yield _after(promoted_at, scale_down_delay_s(model_spec), tz)
        yield _after(promoted_at, rollback_window_s(model_spec), tz)

    stable = status.stable
    if status.phase == PHASE_PROGRESSING and state is None and stable and stable.since:
        # A stable revision short of Ready turns Degraded once its deadline passes.
        yield _after(stable.since, progress_deadline_s(model_spec), tz)


def _after(stamp: str, seconds: float, tz: tzinfo | None) -> datetime:
    return parse_stamp(stamp, tz) + timedelta(seconds=seconds)
