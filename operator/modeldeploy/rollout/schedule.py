"""When the checks of a step are due."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from modeldeploy.api.spec import ModelDeploymentSpec, parse_duration
from modeldeploy.api.status import ModelDeploymentStatus, RolloutState
from modeldeploy.rollout import shadow
from modeldeploy.rollout.state import parse_stamp


def analysis_due(
    model_spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime
) -> bool:
    """Whether the shell should run the checks before deciding."""
    due = next_check_at(model_spec, status.rollout, now.tzinfo)
    return due is not None and now >= due


def next_check_at(
    model_spec: ModelDeploymentSpec, state: RolloutState | None, tz: tzinfo | None
) -> datetime | None:
    """When the next check is due.

    Checks run every interval for as long as the rollout lasts, from the moment the first
    step's weight is reached (or the shadow's copies begin): between steps too, while the next
    step's pods come up and the canary still serves at the last step's weight, so a breach is
    caught within an interval whenever it starts. Besides, a check falls exactly one interval
    after each step is reached, since only a pass at least an interval into a step, on data of
    its own split, moves the ramp on (the strategy's rule)."""
    # The shadow phase is checked like a step, from the moment the copies begin.
    if state is None or model_spec.rollout is None:
        return None
    anchor = state.step_ready_at or shadow.started_at(state)
    last = state.last_analysis_at
    if not (last or anchor):
        return None
    interval = timedelta(seconds=parse_duration(model_spec.rollout.interval))
    last_at = parse_stamp(last, tz) if last else None
    due = [last_at + interval] if last_at else []
    if anchor:
        judged_at = parse_stamp(anchor, tz) + interval
        if last_at is None or judged_at > last_at:
            due.append(judged_at)
    return min(due)
