"""The ModelDeployment's status: typed here for the CRD's schema; the reconciler writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modeldeploy.api.policy import PolicyRef, PolicySnapshot
from modeldeploy.api.spec import ApiModel, ModelSpec, ServingSpec


class Condition(ApiModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class RevisionSource(ApiModel):
    """The part of the spec that shaped a revision's pods, kept so that its Deployment can be
    rendered (or rebuilt) after the spec has moved on to another revision."""

    model: ModelSpec
    serving: ServingSpec


class RevisionStatus(ApiModel):
    revision: str
    version: str
    deployment: str
    replicas: int = 0
    ready_replicas: int = 0
    since: str | None = Field(default=None, description="When this track last changed size")
    source: RevisionSource | None = None
    undo_requested_at: str | None = Field(
        default=None,
        description="On the previous revision: an undo waits for it to be Ready, then switches",
    )


class SmokeFailure(ApiModel):
    request: str
    pod: str | None = None
    expected: str
    got: str


class PreflightStatus(ApiModel):
    """The checks a new revision passes before any client traffic: the schema comparison with
    the stable and the smoke test."""

    phase: Literal["Pending", "Passed", "Failed"]
    at: str | None = Field(default=None, description="When it last ran")
    attempts: int | None = Field(
        default=None, description="Runs that could not reach the new revision's pods"
    )
    message: str | None = None
    smoke_passed: int | None = None
    smoke_total: int | None = None
    failures: list[SmokeFailure] | None = None
    schema_changes: list[str] | None = None


class ShadowState(ApiModel):
    started_at: str = Field(description="When the stable's pods began copying requests")
    passed_at: str | None = Field(
        default=None, description="When the shadow's checks had passed for its duration"
    )


class RolloutState(ApiModel):
    """Where the ramp is; enough for a restarted operator to go on at the same step."""

    revision: str
    version: str
    started_at: str
    step: int | None = None
    step_weight: int | None = None
    step_set_at: str | None = Field(default=None, description="When the step's weight was set")
    step_ready_at: str | None = Field(
        default=None, description="When the canary reached the step's weight"
    )
    last_analysis_at: str | None = None
    preview_passed_at: str | None = Field(
        default=None, description="Blue/green: when the preview's checks passed"
    )
    preflight: PreflightStatus | None = None
    shadow: ShadowState | None = None
    failures: int | None = None
    inconclusive: int | None = None
    policy: PolicySnapshot | None = Field(
        default=None, description="The policy this rollout started under, kept until it ends"
    )


class RolledBackStatus(ApiModel):
    revision: str
    version: str
    reason: str
    at: str
    cause: str | None = None
    preflight: PreflightStatus | None = None


class CheckStatus(ApiModel):
    name: str
    verdict: str
    value: float | None = None
    stable_value: float | None = None
    bound: str | None = None
    message: str | None = None
    measured_at: str | None = None


class HistoryEntry(ApiModel):
    revision: str
    version: str
    outcome: str
    reason: str | None = None
    at: str


class ModelDeploymentStatus(ApiModel):
    observed_generation: int | None = None
    phase: str | None = None
    message: str | None = None
    revision: str | None = Field(default=None, description="Revision the spec asks for")
    stable: RevisionStatus | None = None
    canary: RevisionStatus | None = None
    previous: RevisionStatus | None = Field(
        default=None, description="The stable revision before the last promotion, kept for undo"
    )
    promoted_at: str | None = None
    rollout: RolloutState | None = None
    rolled_back: RolledBackStatus | None = None
    weight: int | None = Field(default=None, description="Percent of traffic meant for the canary")
    effective_weight: int | None = Field(
        default=None, description="Percent of traffic the canary actually gets"
    )
    checks: list[CheckStatus] | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    ready: str | None = Field(default=None, description="ready/desired replicas of stable")
    history: list[HistoryEntry] | None = None
    handled_commands: dict[str, str] | None = Field(
        default=None, description="Last token of each one-shot command the operator acted on"
    )
    policy: PolicyRef | None = Field(
        default=None, description="The ClusterRolloutPolicy that shaped the rollout"
    )
    conditions: list[Condition] = Field(default_factory=list)
