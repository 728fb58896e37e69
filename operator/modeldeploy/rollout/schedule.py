"""When the checks of a step are due."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from modeldeploy.rollout import shadow
from modeldeploy.rollout.state import parse_stamp
from modeldeploy.spec import ModelDeploymentSpec, parse_duration


def analysis_due(model_spec: ModelDeploymentSpec, status: dict[str, Any], now: datetime) -> bool:
    """Whether the shell should run the checks before deciding."""
    due = next_check_at(model_spec, status.get("rollout") or {}, now.tzinfo)
    return due is not None and now >= due


def next_check_at(
    model_spec: ModelDeploymentSpec, state: dict[str, Any], tz: tzinfo | None
) -> datetime | None:
    """When the step's next check is due: one interval after its weight was reached, then every
    interval; None while the weight is not reached. A step's first check waits a full interval
    at the step's weight, even when the previous step's last check ran moments ago: its data
    must come from the new split."""
    # The shadow phase is checked like a step, from the moment the copies begin.
    anchor = state.get("stepReadyAt") or shadow.started_at(state or {})
    if not state or model_spec.rollout is None or not anchor:
        return None
    last = max(state.get("lastAnalysisAt") or "", anchor)
    return parse_stamp(last, tz) + timedelta(seconds=parse_duration(model_spec.rollout.interval))
