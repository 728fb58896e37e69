"""The rollout state machine: (spec, revision, status, world, checks, now) → what should be.

Every phase change happens here and nowhere else. The result names the replicas of each
revision's Deployment, which revisions are stable and canary, the canary weight the router
must set, the new status and the Events that explain it; the kopf layer only applies it.

All rollout state lives in `status`, so an operator restarted at any moment continues at the
same step: the step index, when its weight was set and reached, when the checks last ran, and
the failure counters are all there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from modeldeploy import conditions as cond
from modeldeploy import names
from modeldeploy.commands import Commands
from modeldeploy.observed import Observed
from modeldeploy.spec import (
    ModelDeploymentSpec,
    RolloutSpec,
    RolloutStep,
    parse_duration,
    revision_source,
)
from modeldeploy.traffic.base import Router
from modeldeploy.traffic.factory import router_for

PHASE_PROGRESSING = "Progressing"
PHASE_READY = "Ready"
PHASE_DEGRADED = "Degraded"
PHASE_FAILED = "Failed"
PHASE_CANARY = "Canary"
PHASE_PAUSED = "Paused"
PHASE_AWAITING_APPROVAL = "AwaitingApproval"
PHASE_ROLLED_BACK = "RolledBack"
PHASES = (
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_DEGRADED,
    PHASE_FAILED,
    PHASE_CANARY,
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
    results: list[dict[str, Any]]
    summary: str = ""


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
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Revision → the spec snapshot its Deployment is rendered from."""


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
    if not state or model_spec.rollout is None or not state.get("stepReadyAt"):
        return None
    last = max(state.get("lastAnalysisAt") or "", state["stepReadyAt"])
    return parse_stamp(last, tz) + timedelta(seconds=parse_duration(model_spec.rollout.interval))


def refused_status(
    status: dict[str, Any], reason: str, message: str, generation: int | None, now: datetime
) -> dict[str, Any]:
    """Status for a spec the operator cannot act on (`reason`: InvalidSpec, PolicyViolation);
    what is serving is left as it is."""
    updated = dict(status)
    updated["observedGeneration"] = generation
    updated["phase"] = PHASE_FAILED
    updated["message"] = message
    updated["conditions"] = cond.merge_conditions(
        status.get("conditions", []),
        [
            cond.ConditionUpdate(cond.DEGRADED, "True", reason, message),
            cond.ConditionUpdate(cond.PROGRESSING, "False", reason, message),
            cond.ConditionUpdate(cond.RECONCILING, "False", reason, message),
            cond.ConditionUpdate(cond.STALLED, "True", reason, message),
        ],
        iso(now),
        generation,
    )
    return updated


@dataclass
class _Draft:
    """The decision under construction; only `decide` and its helpers touch it."""

    name: str
    spec: ModelDeploymentSpec
    revision: str
    observed: Observed
    now: datetime
    stable: dict[str, Any] | None
    previous: dict[str, Any] | None
    rollout: dict[str, Any] | None
    rolled_back: dict[str, Any] | None
    history: list[dict[str, Any]]
    handled: dict[str, str]
    checks: list[dict[str, Any]]
    promoted_at: str | None
    router: Router
    replicas: dict[str, int] = field(default_factory=dict)
    weight: int = 0
    phase: str = PHASE_READY
    message: str = ""
    events: list[Event] = field(default_factory=list)

    @property
    def now_iso(self) -> str:
        return iso(self.now)

    def revision_status(self, revision: str, version: str, replicas: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "revision": revision,
            "version": version,
            "deployment": names.deployment_name(self.name, revision),
            "replicas": replicas,
            "readyReplicas": self.observed.ready(revision),
        }
        source = self.source_of(revision)
        if source is not None:
            entry["source"] = source
        return entry

    def source_of(self, revision: str) -> dict[str, Any] | None:
        """The spec snapshot that shaped `revision`: the spec's own for its revision, else the
        one recorded with the track that runs it."""
        if revision == self.revision:
            return revision_source(self.spec)
        for track in (self.stable, self.previous):
            if track is not None and track.get("revision") == revision and track.get("source"):
                return dict(track["source"])
        return None

    def emit(self, event_type: str, reason: str, message: str) -> None:
        self.events.append(Event(event_type, reason, message))

    def record(self, revision: str, version: str, outcome: str, reason: str) -> None:
        entry = {
            "revision": revision,
            "version": version,
            "outcome": outcome,
            "reason": reason,
            "at": self.now_iso,
        }
        self.history = [entry, *self.history][:HISTORY_LENGTH]


def decide(
    name: str,
    model_spec: ModelDeploymentSpec,
    revision: str,
    status: dict[str, Any],
    observed: Observed,
    now: datetime,
    generation: int | None,
    commands: Commands | None = None,
    analysis: Analysis | None = None,
    route_weight: int | None = None,
) -> Decision:
    commands = commands or Commands()
    draft = _Draft(
        name=name,
        spec=model_spec,
        revision=revision,
        observed=observed,
        now=now,
        stable=status.get("stable"),
        previous=status.get("previous"),
        rollout=status.get("rollout"),
        rolled_back=status.get("rolledBack"),
        history=list(status.get("history") or []),
        handled=dict(status.get("handledCommands") or {}),
        checks=list(status.get("checks") or []),
        promoted_at=status.get("promotedAt"),
        router=router_for(model_spec.rollout.traffic if model_spec.rollout else None),
    )
    _handle_undo(draft, commands)
    _handle_retry(draft, commands)

    if draft.stable is None:
        _first_deploy(draft)
    elif draft.rolled_back is not None and draft.rolled_back["revision"] == revision:
        _supersede_if_stale(draft)
        _hold_rolled_back(draft)
    elif draft.stable["revision"] == revision:
        _supersede_if_stale(draft, reason="the spec went back to the stable revision")
        _steady(draft)
    elif model_spec.rollout is None:
        _supersede_if_stale(draft)
        _replace_when_ready(draft)
    else:
        _supersede_if_stale(draft)
        _canary(draft, model_spec.rollout, commands, analysis)

    _keep_previous(draft)
    draft.handled.update(commands.tokens)
    return _finish(draft, status, generation, route_weight)


# --- the cases ------------------------------------------------------------------------------


def _first_deploy(draft: _Draft) -> None:
    """No stable revision yet: the spec's revision becomes stable once all replicas are Ready."""
    replicas = draft.spec.replicas
    draft.replicas[draft.revision] = replicas
    ready = draft.observed.ready(draft.revision)
    if draft.revision in draft.observed.deployments and ready >= replicas:
        draft.stable = draft.revision_status(draft.revision, draft.spec.model.version, replicas)
        draft.stable["since"] = draft.now_iso
        draft.emit(
            "Normal", "Deployed", f"revision {draft.revision} ({draft.spec.model.version}) is Ready"
        )
        draft.record(draft.revision, draft.spec.model.version, "Deployed", "first deploy")
        _steady(draft)
        return
    draft.phase = PHASE_PROGRESSING
    draft.message = f"first deploy: {ready}/{replicas} replicas of {draft.revision} ready"


def _steady(draft: _Draft) -> None:
    assert draft.stable is not None
    replicas = draft.spec.replicas
    revision = draft.stable["revision"]
    since = draft.stable.get("since")
    if draft.stable.get("replicas") != replicas:
        since = draft.now_iso  # a scale change restarts the clock on becoming Ready
    draft.stable = {
        **draft.revision_status(revision, draft.stable["version"], replicas),
        "since": since,
    }
    draft.replicas[revision] = replicas
    if draft.rolled_back is not None and draft.rolled_back["revision"] != draft.revision:
        draft.rolled_back = None  # the spec moved on from the revision that failed
    _stable_phase(draft)


def _stable_phase(draft: _Draft) -> None:
    assert draft.stable is not None
    replicas = draft.spec.replicas
    ready = draft.observed.ready(draft.stable["revision"])
    stable = draft.stable
    text = f"{ready}/{replicas} replicas of {stable['revision']} ({stable['version']}) ready"
    if ready >= replicas:
        draft.phase, draft.message = PHASE_READY, text
    elif seconds_since(draft.stable.get("since"), draft.now) < progress_deadline_s(draft.spec):
        draft.phase, draft.message = PHASE_PROGRESSING, text
    else:
        draft.phase, draft.message = PHASE_DEGRADED, text


def _hold_rolled_back(draft: _Draft) -> None:
    """The spec still asks for a revision that was rolled back: serve stable, keep the canary's
    Deployment at zero for inspection, and wait for a new spec or a retry."""
    assert draft.stable is not None and draft.rolled_back is not None
    _steady(draft)
    draft.replicas[draft.rolled_back["revision"]] = 0
    ready = draft.observed.ready(draft.stable["revision"])
    draft.phase = PHASE_ROLLED_BACK
    failed = draft.rolled_back
    draft.message = (
        f"revision {failed['revision']} ({failed['version']}) was rolled back: "
        f"{failed['reason']}; serving {draft.stable['revision']} "
        f"({draft.stable['version']}), {ready}/{draft.spec.replicas} ready"
    )


def _replace_when_ready(draft: _Draft) -> None:
    """Without a rollout section a new revision replaces stable once all its replicas are Ready."""
    assert draft.stable is not None
    replicas = draft.spec.replicas
    draft.replicas[draft.stable["revision"]] = draft.stable.get("replicas", replicas)
    draft.replicas[draft.revision] = replicas
    ready = draft.observed.ready(draft.revision)
    if draft.revision in draft.observed.deployments and ready >= replicas:
        _promote(draft, "all replicas Ready (no rollout steps configured)")
        return
    if draft.rollout is None:
        draft.rollout = {
            "revision": draft.revision,
            "version": draft.spec.model.version,
            "startedAt": draft.now_iso,
        }
    draft.phase = PHASE_PROGRESSING
    draft.message = f"{ready}/{replicas} replicas of new revision {draft.revision} ready"


def _supersede_if_stale(draft: _Draft, reason: str | None = None) -> None:
    """A canary of a revision the spec no longer asks for is dropped."""
    if draft.rollout is None or draft.rollout["revision"] == draft.revision:
        return
    old = draft.rollout
    why = reason or f"the spec now asks for revision {draft.revision}"
    draft.emit(
        "Normal", "Superseded", f"canary {old['revision']} ({old.get('version')}) dropped: {why}"
    )
    draft.record(old["revision"], old.get("version", ""), "Superseded", why)
    draft.rollout = None
    draft.checks = []


def _handle_retry(draft: _Draft, commands: Commands) -> None:
    if not commands.retry:
        return
    if draft.rolled_back is not None and draft.rolled_back["revision"] == draft.revision:
        draft.emit("Normal", "Retry", f"retrying revision {draft.revision} as asked")
        draft.rolled_back = None
    else:
        draft.emit(
            "Warning", "RetryIgnored", "nothing to retry: the spec's revision was not rolled back"
        )


def _handle_undo(draft: _Draft, commands: Commands) -> None:
    """Back to the previous stable, never through an outage: a previous revision already at
    zero is brought up and Ready first, and only then takes the traffic back."""
    previous = draft.previous
    pending = _undo_pending(draft)
    if commands.undo and not pending:
        window = rollback_window_s(draft.spec)
        if (
            previous is None
            or draft.stable is None
            or seconds_since(draft.promoted_at, draft.now) > window
        ):
            draft.emit(
                "Warning", "UndoUnavailable", "no previous revision within the rollback window"
            )
            return
        if draft.observed.ready(previous["revision"]) < draft.spec.replicas:
            draft.previous = {**previous, "undoRequestedAt": draft.now_iso}
            draft.emit(
                "Normal",
                "UndoStarted",
                f"bringing {previous['revision']} ({previous['version']}) up to "
                f"{draft.spec.replicas} ready replicas before it takes the traffic back",
            )
            return
        _swap_back(draft)
    elif (
        pending
        and previous is not None
        and draft.observed.ready(previous["revision"]) >= draft.spec.replicas
    ):
        _swap_back(draft)


def _swap_back(draft: _Draft) -> None:
    assert draft.previous is not None and draft.stable is not None
    previous = {k: v for k, v in draft.previous.items() if k != "undoRequestedAt"}
    undone = draft.stable
    draft.emit(
        "Warning",
        "Undone",
        f"revision {undone['revision']} ({undone['version']}) undone as asked; "
        f"serving {previous['revision']} ({previous['version']}) again",
    )
    draft.record(undone["revision"], undone["version"], "Undone", "undone as asked")
    draft.stable = {**previous, "since": draft.now_iso}
    draft.previous = None
    draft.promoted_at = None
    draft.rollout = None
    draft.rolled_back = {
        "revision": undone["revision"],
        "version": undone["version"],
        "reason": "undone as asked",
        "at": draft.now_iso,
    }


def _undo_pending(draft: _Draft) -> bool:
    return draft.previous is not None and bool(draft.previous.get("undoRequestedAt"))


# --- the canary ramp ------------------------------------------------------------------------


def _canary(
    draft: _Draft, rollout_spec: RolloutSpec, commands: Commands, analysis: Analysis | None
) -> None:
    assert draft.stable is not None
    steps = resolved_steps(rollout_spec)
    version = draft.spec.model.version
    if draft.rollout is None or "step" not in draft.rollout:
        draft.rollout = _new_rollout(draft, version)
        draft.checks = []
        draft.emit(
            "Normal",
            "RolloutStarted",
            f"canary {draft.revision} ({version}) starts at step 1/{len(steps)}: "
            f"weight {steps[0].weight}%",
        )
        if not rollout_spec.checks:
            draft.emit("Warning", "Unguarded", UNGUARDED)
    state = dict(draft.rollout)
    draft.rollout = state

    if commands.abort:
        _roll_back(draft, "aborted as asked", cause="Aborted")
        return

    step_index = min(int(state["step"]), len(steps) - 1)
    step = steps[step_index]
    stable_n, canary_n = draft.router.track_replicas(draft.spec.replicas, step.weight)
    canary_ready = draft.observed.ready(draft.revision)
    reached = draft.revision in draft.observed.deployments and canary_ready >= canary_n

    if reached and not state.get("stepReadyAt"):
        state["stepReadyAt"] = draft.now_iso
        draft.emit(
            "Normal",
            "StepReached",
            f"step {step_index + 1}/{len(steps)}: canary at weight {step.weight}%",
        )

    if not reached and seconds_since(state.get("stepSetAt"), draft.now) > parse_duration(
        rollout_spec.progress_deadline
    ):
        _roll_back(
            draft,
            f"canary not Ready within progressDeadline {rollout_spec.progress_deadline}: "
            f"{canary_ready}/{canary_n} replicas ready",
            cause="ProgressDeadlineExceeded",
        )
        return

    if analysis is not None and reached:
        state["lastAnalysisAt"] = draft.now_iso
        draft.checks = analysis.results
        if analysis.verdict == FAIL:
            state["failures"] = int(state.get("failures", 0)) + 1
            if state["failures"] > rollout_spec.failure_limit:
                _roll_back(draft, analysis.summary or "a check failed", cause="CheckFailed")
                return
            draft.emit(
                "Warning",
                "CheckFailed",
                f"{analysis.summary} ({state['failures']}/{rollout_spec.failure_limit} tolerated)",
            )
        elif analysis.verdict in (INCONCLUSIVE, ERROR):
            state["inconclusive"] = int(state.get("inconclusive", 0)) + 1
            if state["inconclusive"] > rollout_spec.inconclusive_limit:
                _roll_back(
                    draft,
                    f"checks inconclusive {state['inconclusive']} times in a row: "
                    f"{analysis.summary}",
                    cause="Inconclusive",
                )
                return
            draft.emit(
                "Warning",
                "CheckInconclusive",
                f"{analysis.summary} "
                f"({state['inconclusive']}/{rollout_spec.inconclusive_limit} tolerated)",
            )
        else:
            state["inconclusive"] = 0
            pause_s = parse_duration(step.pause) if step.pause else 0.0
            paused_long_enough = seconds_since(state.get("stepReadyAt"), draft.now) >= pause_s
            # _advance answers True when it promoted, which ends this decision.
            if (
                not commands.paused
                and paused_long_enough
                and step.approval != "required"
                and _advance(draft, steps, step_index, "checks passed")
            ):
                return

    if commands.promote == "full":
        _promote(draft, "promoted as asked")
        return
    if commands.promote == "step" and _advance(
        draft, steps, step_index, "promoted one step as asked"
    ):
        return

    # The step may have moved on above: size the tracks for the step the ramp is at now.
    step_index = int(state["step"])
    step = steps[step_index]
    stable_n, canary_n = draft.router.track_replicas(draft.spec.replicas, step.weight)
    draft.replicas[draft.stable["revision"]] = stable_n
    draft.replicas[draft.revision] = canary_n
    draft.weight = _routed_weight(draft, steps, step_index, rollout_spec)
    state["stepWeight"] = step.weight
    awaiting = step.approval == "required" and bool(state.get("stepReadyAt"))
    if commands.paused:
        draft.phase = PHASE_PAUSED
    elif awaiting:
        draft.phase = PHASE_AWAITING_APPROVAL
    else:
        draft.phase = PHASE_CANARY
    waiting = (
        ""
        if state.get("stepReadyAt")
        else f", waiting for {canary_n} canary replicas ({canary_ready} ready)"
    )
    draft.message = (
        f"step {int(state['step']) + 1}/{len(steps)}: canary {draft.revision} ({version}) "
        f"at weight {step.weight}%"
        f"{waiting}{' (paused)' if commands.paused else ''}"
        f"{'; awaiting approval: kubectl modeldeploy promote ' + draft.name if awaiting else ''}"
        f"{'' if rollout_spec.checks else f'; {UNGUARDED}'}"
    )


def _new_rollout(draft: _Draft, version: str) -> dict[str, Any]:
    return {
        "revision": draft.revision,
        "version": version,
        "step": 0,
        "startedAt": draft.now_iso,
        "stepSetAt": draft.now_iso,
        "stepReadyAt": None,
        "lastAnalysisAt": None,
        "failures": 0,
        "inconclusive": 0,
    }


def _routed_weight(
    draft: _Draft, steps: list[RolloutStep], step_index: int, rollout_spec: RolloutSpec
) -> int:
    """Weight for the router: a step's weight only once the canary holds it, else the last one
    it held; never weight to a canary without ready pods."""
    state = draft.rollout or {}
    if draft.observed.ready(draft.revision) == 0:
        return 0
    if state.get("stepReadyAt"):
        return steps[step_index].weight
    return steps[step_index - 1].weight if step_index > 0 else 0


def _advance(draft: _Draft, steps: list[RolloutStep], step_index: int, why: str) -> bool:
    """Moves to the next step; True when that was the last step and the canary got promoted."""
    state = draft.rollout
    assert state is not None
    if step_index + 1 >= len(steps):
        _promote(draft, f"all {len(steps)} steps passed" if why == "checks passed" else why)
        return True
    state["step"] = step_index + 1
    state["stepSetAt"] = draft.now_iso
    state["stepReadyAt"] = None
    nxt = steps[step_index + 1]
    draft.emit(
        "Normal", "StepAdvanced", f"{why}: step {step_index + 2}/{len(steps)}, weight {nxt.weight}%"
    )
    return False


def _roll_back(draft: _Draft, reason: str, *, cause: str) -> None:
    """Weight 0 and the canary scaled to zero in this very decision; stable back to full size."""
    assert draft.stable is not None
    state = draft.rollout or {}
    version = state.get("version", draft.spec.model.version)
    draft.replicas[draft.stable["revision"]] = draft.spec.replicas
    draft.replicas[draft.revision] = 0
    draft.weight = 0
    draft.rolled_back = {
        "revision": draft.revision,
        "version": version,
        "reason": reason,
        "at": draft.now_iso,
        "cause": cause,
    }
    draft.rollout = None
    draft.emit(
        "Warning", "RolledBack", f"canary {draft.revision} ({version}) rolled back: {reason}"
    )
    draft.record(draft.revision, version, "RolledBack", reason)
    draft.phase = PHASE_ROLLED_BACK
    draft.message = f"revision {draft.revision} ({version}) was rolled back: {reason}"
    draft.stable = {**draft.stable, "replicas": draft.spec.replicas, "since": draft.now_iso}


def _promote(draft: _Draft, why: str) -> None:
    """The canary's Deployment becomes stable as it is: its pods, model loaded, keep running."""
    assert draft.stable is not None
    version = draft.spec.model.version
    old = draft.stable
    running = draft.observed.deployments.get(old["revision"])
    warm_replicas = running.replicas if running is not None else old.get("replicas", 0)
    draft.previous = {**old, "replicas": warm_replicas}
    draft.stable = {
        **draft.revision_status(draft.revision, version, draft.spec.replicas),
        "since": draft.now_iso,
    }
    draft.promoted_at = draft.now_iso
    draft.rollout = None
    draft.replicas[draft.revision] = draft.spec.replicas
    draft.weight = 0
    draft.emit(
        "Normal",
        "Promoted",
        f"revision {draft.revision} ({version}) promoted, {why}; "
        f"{old['revision']} ({old['version']}) is kept for undo",
    )
    draft.record(draft.revision, version, "Promoted", why)
    _stable_phase(draft)


def _keep_previous(draft: _Draft) -> None:
    """The last stable stays warm for `scaleDownDelay`, then at zero until `rollbackWindow` ends;
    an undo under way brings it to full size, whatever the time."""
    previous = draft.previous
    if previous is None or draft.stable is None or previous["revision"] == draft.stable["revision"]:
        draft.previous = None
        return
    if _undo_pending(draft):
        draft.replicas[previous["revision"]] = draft.spec.replicas
        ready = draft.observed.ready(previous["revision"])
        draft.phase = PHASE_PROGRESSING
        draft.message = (
            f"undo: {ready}/{draft.spec.replicas} replicas of {previous['revision']} "
            f"({previous['version']}) ready; {draft.stable['revision']} serves until they are"
        )
        return
    age = seconds_since(draft.promoted_at, draft.now)
    if age > rollback_window_s(draft.spec):
        draft.previous = None
        return
    if previous["revision"] in draft.replicas:
        return
    warm = age < scale_down_delay_s(draft.spec)
    draft.replicas[previous["revision"]] = int(previous.get("replicas", 0)) if warm else 0


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


# --- the result -----------------------------------------------------------------------------


def _filling(draft: _Draft, stable_ready: int) -> str | None:
    """The revision that served before a promotion or an undo, while it is still up and the
    new stable is not yet at full strength."""
    previous = draft.previous
    if previous is None or stable_ready >= draft.spec.replicas:
        return None
    if draft.replicas.get(previous["revision"], 0) <= 0:
        return None
    if draft.observed.ready(previous["revision"]) <= 0:
        return None
    return str(previous["revision"])


# Phases on the way to the spec's revision, and those that will not reach it without a person
# (rolled back, replicas unavailable past the deadline): the reasons of the conditions that
# say so, Progressing and kstatus' Reconciling, Degraded and kstatus' Stalled.
_ON_THE_WAY = {
    PHASE_PROGRESSING: "NewReplicas",
    PHASE_CANARY: "CanaryProgressing",
    PHASE_PAUSED: "Paused",
    PHASE_AWAITING_APPROVAL: "AwaitingApproval",
}
_STUCK = {PHASE_DEGRADED: "ReplicasUnavailable", PHASE_ROLLED_BACK: "RolledBack"}


def _finish(
    draft: _Draft, status: dict[str, Any], generation: int | None, route_weight: int | None
) -> Decision:
    before = status.get("phase")
    if draft.phase == PHASE_PAUSED and before != PHASE_PAUSED:
        draft.emit("Normal", "Paused", draft.message)
    elif draft.phase == PHASE_AWAITING_APPROVAL and before != PHASE_AWAITING_APPROVAL:
        draft.emit("Normal", "AwaitingApproval", draft.message)
    elif before == PHASE_PAUSED and draft.phase == PHASE_CANARY:
        draft.emit("Normal", "Resumed", draft.message)
    stable = draft.stable
    if stable is not None:
        stable = {**stable, "readyReplicas": draft.observed.ready(stable["revision"])}
    canary: dict[str, Any] | None = None
    canary_revision: str | None = None
    if draft.rollout is not None and stable is not None:
        canary_revision = draft.rollout["revision"]
        canary = draft.revision_status(
            canary_revision,
            draft.rollout.get("version", ""),
            draft.replicas.get(canary_revision, 0),
        )
    if draft.weight == 0 and canary is None:
        effective = 0
    else:
        effective = draft.router.effective_weight(
            draft.weight,
            draft.observed.ready(stable["revision"]) if stable else 0,
            draft.observed.ready(canary_revision) if canary_revision else 0,
            route_weight,
        )
    replicas = draft.spec.replicas
    stable_ready = draft.observed.ready(stable["revision"]) if stable else 0
    phase = draft.phase
    ramping = phase in (PHASE_CANARY, PHASE_PAUSED, PHASE_AWAITING_APPROVAL) or (
        phase == PHASE_PROGRESSING and canary is not None
    )
    updates = [
        cond.ConditionUpdate(
            cond.READY,
            "True" if stable is not None and stable_ready >= replicas else "False",
            "StableReady" if stable is not None and stable_ready >= replicas else "StableNotReady",
            f"{stable_ready}/{replicas} stable replicas ready",
        ),
        cond.ConditionUpdate(
            cond.PROGRESSING,
            "True" if ramping or phase == PHASE_PROGRESSING else "False",
            {**_ON_THE_WAY, PHASE_ROLLED_BACK: "RolledBack"}.get(phase, "Complete"),
            draft.message,
        ),
        cond.ConditionUpdate(
            cond.RECONCILING,
            "True" if phase in _ON_THE_WAY else "False",
            _ON_THE_WAY.get(phase, "Complete"),
            draft.message if phase in _ON_THE_WAY else "",
        ),
        *(
            cond.ConditionUpdate(
                kind,
                "True" if phase in _STUCK else "False",
                _STUCK.get(phase, "AsExpected"),
                draft.message if phase in _STUCK else "",
            )
            for kind in (cond.DEGRADED, cond.STALLED)
        ),
    ]
    new_status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "message": draft.message,
        "revision": draft.revision,
        "stable": stable,
        "canary": canary,
        "previous": draft.previous,
        "promotedAt": draft.promoted_at if draft.previous is not None else None,
        "rollout": draft.rollout,
        "rolledBack": draft.rolled_back,
        "weight": draft.weight,
        "effectiveWeight": effective,
        "checks": draft.checks
        if (draft.rollout is not None or draft.rolled_back is not None)
        else [],
        "replicas": replicas,
        "readyReplicas": stable_ready,
        "ready": f"{stable_ready}/{replicas}",
        "history": draft.history,
        "handledCommands": draft.handled or None,
        "conditions": cond.merge_conditions(
            status.get("conditions", []), updates, draft.now_iso, generation
        ),
    }
    sources = {rev: src for rev in draft.replicas if (src := draft.source_of(rev)) is not None}
    return Decision(
        replicas=draft.replicas,
        sources=sources,
        stable_revision=stable["revision"] if stable else None,
        canary_revision=canary_revision,
        weight=draft.weight,
        client_revisions=draft.router.client_revisions(
            stable["revision"] if stable else draft.revision,
            canary_revision,
            draft.weight,
            _filling(draft, stable_ready),
        ),
        status=new_status,
        events=draft.events,
    )
