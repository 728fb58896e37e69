"""The one entry point: (spec, revision, status, world, checks, now) → what should be."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from modeldeploy.api.commands import Commands
from modeldeploy.api.observed import Observed
from modeldeploy.api.spec import ModelDeploymentSpec, desired_replicas
from modeldeploy.api.status import ModelDeploymentStatus, StatusModel
from modeldeploy.rollout.outcome import finish
from modeldeploy.rollout.state import Analysis, Decision, Draft, Preflight
from modeldeploy.rollout.strategy import strategy_for
from modeldeploy.rollout.transitions import (
    first_deploy,
    hold_rolled_back,
    steady,
    supersede_if_stale,
)
from modeldeploy.rollout.undo import handle_retry, handle_undo, keep_previous
from modeldeploy.traffic.factory import router_for

Part = TypeVar("Part", bound=StatusModel)


def decide(
    name: str,
    model_spec: ModelDeploymentSpec,
    revision: str,
    status: ModelDeploymentStatus,
    observed: Observed,
    now: datetime,
    generation: int | None,
    commands: Commands | None = None,
    analysis: Analysis | None = None,
    route_weight: int | None = None,
    preflight: Preflight | None = None,
) -> Decision:
    commands = commands or Commands()
    # Every track is sized from the total, held within the autoscaling bounds: from here on
    # spec.replicas is that total.
    total = desired_replicas(model_spec)
    if total != model_spec.replicas:
        model_spec = model_spec.model_copy(update={"replicas": total})
    # `status` stays as it was given: the draft sets fields of its own copies of the tracks and
    # the rollout, and replaces what lies below them (a rollout's preflight or shadow record).
    draft = Draft(
        name=name,
        spec=model_spec,
        revision=revision,
        observed=observed,
        now=now,
        stable=_copy(status.stable),
        previous=_copy(status.previous),
        rollout=_copy(status.rollout),
        rolled_back=_copy(status.rolled_back),
        history=list(status.history or []),
        handled=dict(status.handled_commands or {}),
        checks=list(status.checks or []),
        promoted_at=status.promoted_at,
        router=router_for(model_spec.rollout.traffic if model_spec.rollout else None),
    )
    handle_undo(draft, commands)
    handle_retry(draft, commands)

    if draft.stable is None:
        first_deploy(draft, preflight)
    elif draft.rolled_back is not None and draft.rolled_back.revision == revision:
        supersede_if_stale(draft)
        hold_rolled_back(draft)
    elif draft.stable.revision == revision:
        supersede_if_stale(draft, reason="the spec went back to the stable revision")
        steady(draft)
    else:
        supersede_if_stale(draft)
        strategy_for(model_spec).progress(draft, commands, analysis, preflight)

    keep_previous(draft)
    draft.handled.update(commands.tokens)
    return finish(draft, status, generation, route_weight)


def _copy(part: Part | None) -> Part | None:
    return part.model_copy() if part is not None else None
