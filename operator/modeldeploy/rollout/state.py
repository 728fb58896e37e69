"""What the state machine works on: phases, the decision it returns, the draft it builds, and
the clock and duration helpers every strategy shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from modeldeploy.api import names
from modeldeploy.api.observed import Observed
from modeldeploy.api.spec import ModelDeploymentSpec, RolloutSpec, RolloutStep, parse_duration
from modeldeploy.api.status import (
    CheckStatus,
    HistoryEntry,
    ModelDeploymentStatus,
    RevisionSource,
    RevisionStatus,
    RolledBackStatus,
    RolloutState,
    SmokeFailure,
)
from modeldeploy.rollout.shadow import Shadowing
from modeldeploy.traffic.base import Router

PHASE_PROGRESSING = "Progressing"
PHASE_READY = "Ready"
PHASE_DEGRADED = "Degraded"
PHASE_FAILED = "Failed"
PHASE_CANARY = "Canary"
PHASE_PREVIEW = "Preview"
PHASE_SHADOW = "Shadow"
PHASE_PAUSED = "Paused"
PHASE_AWAITING_APPROVAL = "AwaitingApproval"
PHASE_ROLLED_BACK = "RolledBack"
PHASES = (
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_DEGRADED,
    PHASE_FAILED,
    PHASE_CANARY,
    PHASE_PREVIEW,
    PHASE_SHADOW,
    PHASE_PAUSED,
    PHASE_AWAITING_APPROVAL,
    PHASE_ROLLED_BACK,
)

# Verdicts of one analysis run, as the analysis package names them.
PASS, FAIL, INCONCLUSIVE, ERROR = "Pass", "Fail", "Inconclusive", "Error"

DEFAULT_SCALE_DOWN_DELAY_S = 30.0
DEFAULT_STEP_WEIGHTS = (10, 50)
HISTORY_LENGTH = 10
UNGUARDED = "unguarded: no checks configured, every step advances on time alone"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Analysis:
    """The outcome of running the checks once, handed in by the shell."""

    verdict: str
    results: list[CheckStatus]
    summary: str = ""


@dataclass(frozen=True)
class PreflightRecord:
    """What status keeps of a preflight's findings, beside its phase."""

    smoke_passed: int | None = None
    smoke_total: int | None = None
    failures: list[SmokeFailure] | None = None
    schema_changes: list[str] | None = None


@dataclass(frozen=True)
class Preflight:
    """The outcome of the checks before any traffic (schema, smoke test), handed in by the
    shell: PASS, FAIL (with the cause the rollback names) or ERROR (the new revision's pods
    could not be asked; tried again)."""

    verdict: str
    message: str
    cause: str | None = None
    record: PreflightRecord = field(default_factory=PreflightRecord)
    """What status keeps of it: smoke counts, failures, schema changes."""


@dataclass(frozen=True)
class Decision:
    replicas: dict[str, int]
    """Revision → replicas of its Deployment. Revisions not named here are deleted."""
    stable_revision: str | None
    canary_revision: str | None
    weight: int
    """Percent of traffic the router must send to the canary."""
    client_revisions: list[str]
    """The revisions whose pods the client Service sends to."""
    status: ModelDeploymentStatus
    events: list[Event] = field(default_factory=list)
    sources: dict[str, RevisionSource] = field(default_factory=dict)
    """Revision → the spec snapshot its Deployment is rendered from."""
    shadow: Shadowing | None = None
    """Set while the stable's pods must copy requests to the new revision."""


def iso(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse_stamp(stamp: str, tz: tzinfo | None) -> datetime:
    return datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=tz)


def seconds_since(stamp: str | None, now: datetime) -> float:
    if not stamp:
        return float("inf")
    return (now - parse_stamp(stamp, now.tzinfo)).total_seconds()


def resolved_steps(rollout: RolloutSpec) -> list[RolloutStep]:
    steps = rollout.resolved_steps()
    return steps or [RolloutStep(weight=w) for w in DEFAULT_STEP_WEIGHTS]


def scale_down_delay_s(spec: ModelDeploymentSpec) -> float:
    return (
        parse_duration(spec.rollout.scale_down_delay)
        if spec.rollout
        else DEFAULT_SCALE_DOWN_DELAY_S
    )


def rollback_window_s(spec: ModelDeploymentSpec) -> float:
    return parse_duration(spec.rollout.rollback_window) if spec.rollout else 600.0


def progress_deadline_s(spec: ModelDeploymentSpec) -> float:
    if spec.rollout is not None:
        return parse_duration(spec.rollout.progress_deadline)
    return max(600.0, parse_duration(spec.serving.startup_timeout) * 2)


@dataclass
class Draft:
    """The decision under construction; only `decide` and its helpers touch it."""

    name: str
    spec: ModelDeploymentSpec
    revision: str
    observed: Observed
    now: datetime
    stable: RevisionStatus | None
    previous: RevisionStatus | None
    rollout: RolloutState | None
    rolled_back: RolledBackStatus | None
    history: list[HistoryEntry]
    handled: dict[str, str]
    checks: list[CheckStatus]
    promoted_at: str | None
    router: Router
    replicas: dict[str, int] = field(default_factory=dict)
    weight: int = 0
    phase: str = PHASE_READY
    message: str = ""
    events: list[Event] = field(default_factory=list)
    shadow: Shadowing | None = None

    @property
    def now_iso(self) -> str:
        return iso(self.now)

    def revision_status(self, revision: str, version: str, replicas: int) -> RevisionStatus:
        return RevisionStatus(
            revision=revision,
            version=version,
            deployment=names.deployment_name(self.name, revision),
            replicas=replicas,
            ready_replicas=self.observed.ready(revision),
            source=self.source_of(revision),
        )

    def source_of(self, revision: str) -> RevisionSource | None:
        """The spec snapshot that shaped `revision`: the spec's own for its revision, else the
        one recorded with the track that runs it."""
        if revision == self.revision:
            return RevisionSource.of(self.spec)
        for track in (self.stable, self.previous):
            if track is not None and track.revision == revision and track.source is not None:
                return track.source
        return None

    def emit(self, event_type: str, reason: str, message: str) -> None:
        self.events.append(Event(event_type, reason, message))

    def record(self, revision: str, version: str, outcome: str, reason: str) -> None:
        entry = HistoryEntry(
            revision=revision, version=version, outcome=outcome, reason=reason, at=self.now_iso
        )
        self.history = [entry, *self.history][:HISTORY_LENGTH]


def new_rollout_state(draft: Draft) -> RolloutState:
    """`status.rollout` when a strategy starts taking the spec's revision to stable."""
    return RolloutState(
        revision=draft.revision,
        version=draft.spec.model.version,
        step=0,
        started_at=draft.now_iso,
        step_set_at=draft.now_iso,
        failures=0,
        inconclusive=0,
    )


def step_of(state: RolloutState) -> int:
    """The step a ramp under way is at (one begun by `new_rollout_state` always has one)."""
    assert state.step is not None
    return state.step
