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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from modeldeploy.api.policy import PolicyRef, PolicySnapshot
from modeldeploy.api.spec import ModelDeploymentSpec, ModelSpec, ServingSpec, spec_from_source


class StatusModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Condition(StatusModel):
    """A Kubernetes-style condition: lastTransitionTime moves only when status changes."""

    type: str = Field(
        description="Ready: the stable has all its replicas Ready. Progressing: a new "
        "revision or size is on its way. Degraded: replicas unavailable past the deadline, "
        "rolled back, or failed. Reconciling and Stalled, as kstatus (Flux) reads them: on the "
        "way to the spec's revision, or not getting there without a change. PolicyViolation: "
        "the spec breaks its ClusterRolloutPolicy's rules."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="Why, in one CamelCase word: StableReady, CanaryProgressing, RolledBack, "
        "ReplicasUnavailable, RulesBroken and the like."
    )
    message: str = Field(default="", description="Why, in words.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339, UTC).")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the condition was set for."
    )


class RevisionSource(StatusModel):
    """The part of the spec that shaped a revision's pods, kept so that its Deployment can be
    rendered (or rebuilt) after the spec has moved on to another revision."""

    model: ModelSpec = Field(description="spec.model as it was for this revision.")
    serving: ServingSpec = Field(description="spec.serving as it was for this revision.")

    @classmethod
    def of(cls, model_spec: ModelDeploymentSpec) -> RevisionSource:
        return cls(model=model_spec.model, serving=model_spec.serving)

    def to_spec(self, replicas: int) -> ModelDeploymentSpec:
        """The spec this revision's Deployment is rendered from, at `replicas`."""
        return spec_from_source(
            self.model_dump(mode="json", by_alias=True, exclude_none=True), replicas
        )


class RevisionStatus(StatusModel):
    """One revision's track: stable, canary or previous."""

    revision: str = Field(
        description="The revision: a hash of the object's name, spec.model and spec.serving, "
        "10 hex digits. Its pods carry it as the label modeldeploy.io/revision, their metrics "
        "as the label revision."
    )
    version: str = Field(description="spec.model.version of this revision.")
    deployment: str = Field(description="Its Deployment, <name>-<revision>.")
    replicas: int = Field(
        default=0,
        description="On stable: spec.replicas, its size when it serves alone (during a canary "
        "with the replicas router its Deployment runs fewer). On canary: its Deployment's size "
        "at the current step. On previous: the size it ran at when promoted away, kept until "
        "scaleDownDelay ends (then zero).",
    )
    ready_replicas: int = Field(
        default=0,
        description="Its Ready pods when the operator last looked. On previous: as they were "
        "at the promotion, not updated since.",
    )
    since: str | None = Field(
        default=None,
        description="On stable: when it became stable or its size last changed; the "
        "progressDeadline before phase Degraded counts from here.",
    )
    source: RevisionSource | None = Field(
        default=None,
        description="What shaped its pods, to render its Deployment after the spec has moved on.",
    )
    undo_requested_at: str | None = Field(
        default=None,
        description="On previous: when an undo was asked for; it waits for this revision's "
        "pods to be Ready, then switches the traffic back.",
    )


class SmokeFailure(StatusModel):
    """A smoke request that did not pass."""

    request: str = Field(description="The smoke request's name.")
    pod: str | None = Field(default=None, description="The pod it was sent to.")
    expected: str = Field(description="What the answer had to hold.")
    got: str = Field(
        description="What came back instead: the output, an HTTP status and error, or no answer."
    )


class PreflightStatus(StatusModel):
    """The checks a new revision passes before any client traffic: the schema comparison with
    the stable and the smoke test."""

    phase: Literal["Pending", "Passed", "Failed"] = Field(
        description="Pending (not run yet, or to be tried again), Passed or Failed."
    )
    at: str | None = Field(default=None, description="When it last ran.")
    attempts: int | None = Field(
        default=None,
        description="Tries that could not reach the new revision's pods, 5 s apart; past "
        "rollout.inconclusiveLimit the revision rolls back with cause PreflightUnreachable.",
    )
    message: str | None = Field(default=None, description="What it found, in words.")
    smoke_passed: int | None = Field(default=None, description="Smoke requests that passed.")
    smoke_total: int | None = Field(default=None, description="Smoke requests sent.")
    failures: list[SmokeFailure] | None = Field(
        default=None, description="The first smoke requests that failed, five at most."
    )
    schema_changes: (
        list[Annotated[str, Field(description="One change, e.g. input x was removed or renamed.")]]
        | None
    ) = Field(
        default=None,
        description="Each incompatible difference of the model's inputs and outputs from the "
        "stable's, in words; empty when there is none.",
    )


class ShadowState(StatusModel):
    """The shadow phase of a rollout."""

    started_at: str = Field(description="When the stable's pods began copying requests.")
    passed_at: str | None = Field(
        default=None,
        description="When the shadow ended: its checks passed after its duration.",
    )


class RolloutState(StatusModel):
    """Where the ramp is; enough for a restarted operator to go on at the same step."""

    revision: str = Field(description="The revision on its way to stable.")
    version: str = Field(description="Its model version.")
    started_at: str = Field(description="When its rollout began.")
    step: int | None = Field(
        default=None,
        description="The step the canary is at, counted from 0 (the message's step 1/3 is "
        "0); blue/green has the one step 0. Absent while a revision replaces the stable "
        "without a rollout section, or a first deploy runs its preflight.",
    )
    step_weight: int | None = Field(default=None, description="That step's weight.")
    step_set_at: str | None = Field(
        default=None,
        description="When the step began (its pods were asked for); progressDeadline counts "
        "from here.",
    )
    step_ready_at: str | None = Field(
        default=None,
        description="When the canary reached the step's weight (its pods Ready, its preflight "
        "passed); blue/green: when the preview was Ready at full size and past its preflight. "
        "The interval and pause before the next step count from here.",
    )
    last_analysis_at: str | None = Field(default=None, description="When the checks last ran.")
    preview_passed_at: str | None = Field(
        default=None, description="Blue/green: when the preview's checks passed."
    )
    preflight: PreflightStatus | None = Field(
        default=None,
        description="The new revision's preflight: its schema against the stable's, its smoke "
        "test.",
    )
    shadow: ShadowState | None = Field(
        default=None, description="The shadow phase, in a rollout that has one."
    )
    failures: int | None = Field(
        default=None,
        description="Failed check runs so far in this rollout (rollout.failureLimit).",
    )
    inconclusive: int | None = Field(
        default=None,
        description="Inconclusive check runs since the last pass (rollout.inconclusiveLimit).",
    )
    policy: PolicySnapshot | None = Field(
        default=None, description="The policy this rollout started under, kept until it ends."
    )


class RolledBackStatus(StatusModel):
    """A revision rolled back, undone, or failed on its first deploy. The operator does not
    try it again until the spec changes or `kubectl modeldeploy retry`."""

    revision: str = Field(description="The revision.")
    version: str = Field(description="Its model version.")
    reason: str = Field(
        description="Why, in words: the failing check with its value and bound, the deadline, "
        "the crashed pod and how it ended, or undone as asked."
    )
    at: str = Field(description="When.")
    cause: str | None = Field(
        default=None,
        description="CheckFailed, Inconclusive, ProgressDeadlineExceeded, Crashed, Aborted, "
        "IncompatibleSchema, SmokeTestFailed or PreflightUnreachable; absent after an undo.",
    )
    preflight: PreflightStatus | None = Field(
        default=None, description="The preflight's record, when the preflight failed it."
    )


class CheckStatus(StatusModel):
    """The last result of one check."""

    name: str = Field(description="The check's name.")
    verdict: str = Field(
        description="Pass, Fail, Inconclusive (no data, too few requests, nothing to compare "
        "with) or Error (Prometheus unreachable, or refusing the query)."
    )
    value: float | None = Field(
        default=None,
        description="The canary's value; absent when there was none, NaN or an infinity.",
    )
    stable_value: float | None = Field(
        default=None, description="The stable's value, measured for maxIncrease."
    )
    bound: str | None = Field(
        default=None,
        description="The bounds in words, e.g. max 0.01, or maxIncrease 10% over stable 0.120.",
    )
    message: str | None = Field(default=None, description="The verdict in words.")
    measured_at: str | None = Field(default=None, description="When it was measured.")


class HistoryEntry(StatusModel):
    """One thing that became of a revision."""

    revision: str = Field(description="The revision.")
    version: str = Field(description="Its model version.")
    outcome: str = Field(
        description="Deployed (first deploy), Promoted, RolledBack, Superseded (the spec moved "
        "on mid-rollout), Failed (first deploy) or Undone."
    )
    reason: str | None = Field(default=None, description="Why, in words.")
    at: str = Field(description="When.")


class ModelDeploymentStatus(StatusModel):
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was decided from."
    )
    phase: str | None = Field(
        default=None,
        description="Progressing (a first deploy, scaling, a revision replacing the stable "
        "without a rollout section, an undo), Ready, Shadow, Canary, Preview (blue/green), "
        "Paused, AwaitingApproval, RolledBack, Degraded (the stable short of Ready replicas "
        "past its deadline) or Failed (a spec the operator cannot act on, or a first deploy "
        "that failed its preflight).",
    )
    message: str | None = Field(default=None, description="What is happening, in words.")
    url: str | None = Field(
        default=None,
        description="The address pods of the cluster call the model at: its client Service "
        "<name>, http://<name>.<namespace>.svc.cluster.local:80 (the operator's "
        "MODELDEPLOY_CLUSTER_DOMAIN in place of cluster.local). Set once that Service exists, "
        "absent while it does not. This is the primary address: it is always there, and with "
        "the replicas router it carries the rollout's split. With gateway-api it sends to the "
        "stable alone; clients that are to take part in the canary's weight come through the "
        "Gateway, at routeHostnames.",
    )
    route_hostnames: (
        list[Annotated[str, Field(description="A hostname of the HTTPRoute.")]] | None
    ) = Field(
        default=None,
        description="With the gateway-api router: the hostnames the HTTPRoute "
        "(rollout.traffic.httpRoute) lists, through which its Gateway splits traffic by the "
        "canary's weight. The scheme and port are the Gateway listener's. Absent when the route "
        "lists none (it then takes any hostname its listener accepts) or cannot be read.",
    )
    revision: str | None = Field(
        default=None,
        description="The revision the spec asks for: a hash of the name, spec.model and "
        "spec.serving.",
    )
    stable: RevisionStatus | None = Field(
        default=None, description="The revision clients are served by."
    )
    canary: RevisionStatus | None = Field(
        default=None, description="The new revision, while a rollout is under way."
    )
    previous: RevisionStatus | None = Field(
        default=None,
        description="The stable revision before the last promotion, kept for undo until "
        "rollbackWindow ends.",
    )
    promoted_at: str | None = Field(
        default=None,
        description="When the last promotion happened, while previous is kept; "
        "scaleDownDelay and rollbackWindow count from here.",
    )
    rollout: RolloutState | None = Field(
        default=None, description="The rollout under way, if one is."
    )
    rolled_back: RolledBackStatus | None = Field(
        default=None,
        description="The revision last rolled back, undone or failed on its first deploy; "
        "cleared once the spec asks for another revision, or by a retry.",
    )
    weight: int | None = Field(
        default=None,
        description="Percent of traffic the router is told to give the canary: the step's "
        "weight once the canary holds it, else the last one it held; 0 outside a ramp.",
    )
    effective_weight: int | None = Field(
        default=None,
        description="Percent of traffic the canary actually gets: its share of Ready pods "
        "with the replicas router, the HTTPRoute's weight with gateway-api.",
    )
    checks: list[CheckStatus] | None = Field(
        default=None,
        description="The last result of every check of the rollout under way, or of the one "
        "rolled back.",
    )
    replicas: int | None = Field(
        default=None,
        description="Pods of every track there are now (stable, canary or preview, and a "
        "previous stable kept warm), as a Deployment counts its pods: the scale "
        "subresource's status.replicas. spec.replicas is the total asked for.",
    )
    selector: str | None = Field(
        default=None,
        description="A label selector of the pods of every track, in string form: the scale "
        "subresource's status.selector, over which an autoscaler averages its metrics.",
    )
    ready_replicas: int | None = Field(
        default=None, description="Ready pods of the stable revision."
    )
    ready: str | None = Field(
        default=None,
        description="readyReplicas of the stable / the total asked for (spec.replicas, within "
        "autoscaling's bounds), for kubectl get.",
    )
    history: list[HistoryEntry] | None = Field(
        default=None,
        description="The last ten deploys, promotions, rollbacks, supersedes, failures and "
        "undos, newest first.",
    )
    handled_commands: (
        dict[str, Annotated[str, Field(description="The token of the last one acted on.")]] | None
    ) = Field(
        default=None,
        description="Per one-shot command (promote, abort, retry, undo), the last token of "
        "its modeldeploy.io/<command> annotation the operator acted on: a command is carried "
        "out once.",
    )
    policy: PolicyRef | None = Field(
        default=None, description="The ClusterRolloutPolicy that shaped the rollout."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded, Reconciling, Stalled and PolicyViolation.",
    )

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
