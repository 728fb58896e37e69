"""The ModelDeployment's status: the CRD's schema is generated from these models, the state
machine reads and writes them, and the shell parses the stored status with them and writes
`wire()` back as a merge patch.

Unlike the spec's models they are not frozen: a decision moves a rollout on by setting fields
of its own copy of the status.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from modeldeploy.api.policy import PolicyRef, PolicySnapshot
from modeldeploy.api.spec import ModelDeploymentSpec, ModelSpec, ServingSpec, spec_from_source


class StatusModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Condition(StatusModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class RevisionSource(StatusModel):
    """The part of the spec that shaped a revision's pods, kept so that its Deployment can be
    rendered (or rebuilt) after the spec has moved on to another revision."""

    model: ModelSpec
    serving: ServingSpec

    @classmethod
    def of(cls, model_spec: ModelDeploymentSpec) -> RevisionSource:
        return cls(model=model_spec.model, serving=model_spec.serving)

    def to_spec(self, replicas: int) -> ModelDeploymentSpec:
        """The spec this revision's Deployment is rendered from, at `replicas`."""
        return spec_from_source(
            self.model_dump(mode="json", by_alias=True, exclude_none=True), replicas
        )


class RevisionStatus(StatusModel):
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


class SmokeFailure(StatusModel):
    request: str
    pod: str | None = None
    expected: str
    got: str


class PreflightStatus(StatusModel):
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


class ShadowState(StatusModel):
    started_at: str = Field(description="When the stable's pods began copying requests")
    passed_at: str | None = Field(
        default=None, description="When the shadow's checks had passed for its duration"
    )


class RolloutState(StatusModel):
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


class RolledBackStatus(StatusModel):
    revision: str
    version: str
    reason: str
    at: str
    cause: str | None = None
    preflight: PreflightStatus | None = None


class CheckStatus(StatusModel):
    name: str
    verdict: str
    value: float | None = None
    stable_value: float | None = None
    bound: str | None = None
    message: str | None = None
    measured_at: str | None = None


class HistoryEntry(StatusModel):
    revision: str
    version: str
    outcome: str
    reason: str | None = None
    at: str


class ModelDeploymentStatus(StatusModel):
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

    def wire(self) -> dict[str, Any]:
        """The status as the API server stores it: JSON, camelCase, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_status(raw: Mapping[str, Any] | None) -> ModelDeploymentStatus:
    """The stored status, read as the CRD's schema reads it: JSON types as they are, and a
    field these models lack is an error."""
    return ModelDeploymentStatus.model_validate_json(json.dumps(raw or {}), strict=True)


def parse_status_leniently(
    raw: Mapping[str, Any] | None,
) -> tuple[ModelDeploymentStatus, list[str]]:
    """`parse_status`, but fields these models lack (another version of the operator wrote
    them) are left out rather than refused; their paths come back beside the status. Anything
    else the models refuse is still an error."""
    try:
        return parse_status(raw), []
    except ValidationError as error:
        problems = error.errors()
        unknown = [p["loc"] for p in problems if p["type"] == "extra_forbidden"]
        if not unknown or len(unknown) != len(problems):
            raise
    known = copy.deepcopy(dict(raw or {}))
    for loc in unknown:
        _drop(known, loc)
    return parse_status(known), [".".join(str(part) for part in loc) for loc in unknown]


def _drop(document: Any, loc: tuple[int | str, ...]) -> None:
    for part in loc[:-1]:
        document = document[part]
    del document[loc[-1]]
