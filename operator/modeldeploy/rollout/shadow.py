"""The shadow phase: before any weight, the stable's pods copy a sample of live requests to the
new revision and compare its answers with theirs. Which checks judge it, and whether it is on."""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.api.spec import CheckSpec, ModelDeploymentSpec, ShadowSpec, parse_duration
from modeldeploy.api.status import ModelDeploymentStatus, RolloutState

MIN_TTL_S = 30.0


@dataclass(frozen=True)
class Shadowing:
    """What the stable's pods are told while the shadow phase runs."""

    candidate_revision: str
    percent: float
    ttl_s: float
    """The setting lapses on the pods unless renewed within this time."""


def running(state: RolloutState | None) -> bool:
    record = state.shadow if state is not None else None
    return record is not None and bool(record.started_at) and not record.passed_at


def started_at(state: RolloutState) -> str | None:
    return state.shadow.started_at if state.shadow is not None and running(state) else None


def checks(shadow: ShadowSpec) -> list[CheckSpec]:
    """The shadow's own checks, from its bounds."""
    derived = [CheckSpec(name="shadow-error-rate", max=shadow.max_error_rate)]
    if shadow.min_agreement is not None:
        derived.append(CheckSpec(name="shadow-agreement", min=shadow.min_agreement))
    if shadow.max_mean_abs_diff is not None:
        derived.append(CheckSpec(name="shadow-mean-abs-diff", max=shadow.max_mean_abs_diff))
    return derived


def checks_for(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> list[CheckSpec]:
    """The checks to run now: the rollout's, and the shadow's own while it runs."""
    rollout = spec.rollout
    if rollout is None:
        return []
    if rollout.shadow is not None and running(status.rollout):
        return [*rollout.checks, *checks(rollout.shadow)]
    return list(rollout.checks)


def shadowing(spec: ModelDeploymentSpec, revision: str) -> Shadowing:
    assert spec.rollout is not None and spec.rollout.shadow is not None
    ttl = max(3 * parse_duration(spec.rollout.interval), MIN_TTL_S)
    return Shadowing(revision, spec.rollout.shadow.percent, ttl)
