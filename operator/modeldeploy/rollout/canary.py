"""The canary: weighted steps, each gated on its checks, optional pauses and approval steps."""

from __future__ import annotations

from typing import Any

from modeldeploy.commands import Commands
from modeldeploy.rollout import preflight
from modeldeploy.rollout.state import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PHASE_AWAITING_APPROVAL,
    PHASE_CANARY,
    PHASE_PAUSED,
    UNGUARDED,
    Analysis,
    Draft,
    Preflight,
    resolved_steps,
    seconds_since,
)
from modeldeploy.rollout.transitions import promote, roll_back
from modeldeploy.spec import RolloutSpec, RolloutStep, parse_duration


class Canary:
    def __init__(self, rollout_spec: RolloutSpec) -> None:
        self.rollout_spec = rollout_spec

    def progress(
        self,
        draft: Draft,
        commands: Commands,
        analysis: Analysis | None,
        preflight_result: Preflight | None,
    ) -> None:
        _canary(draft, self.rollout_spec, commands, analysis, preflight_result)


def _canary(
    draft: Draft,
    rollout_spec: RolloutSpec,
    commands: Commands,
    analysis: Analysis | None,
    preflight_result: Preflight | None,
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
        roll_back(draft, "aborted as asked", cause="Aborted")
        return

    step_index = min(int(state["step"]), len(steps) - 1)
    step = steps[step_index]
    stable_n, canary_n = draft.router.track_replicas(draft.spec.replicas, step.weight)
    canary_ready = draft.observed.ready(draft.revision)
    reached = draft.revision in draft.observed.deployments and canary_ready >= canary_n

    # Before the first weight, the new pods pass the preflight: no client request reaches
    # them until it has.
    gate = preflight.Gate.PASSED
    if reached and step_index == 0 and not state.get("stepReadyAt"):
        if preflight.needed(draft.spec, has_stable=True):
            limit = rollout_spec.inconclusive_limit
            gate = preflight.check(draft, state, preflight_result, limit)
        if gate is preflight.Gate.FAILED:
            assert preflight_result is not None
            record = state["preflight"]
            roll_back(draft, str(record.get("message")), cause=preflight.cause_of(preflight_result))
            assert draft.rolled_back is not None
            draft.rolled_back["preflight"] = record
            return

    if reached and gate is preflight.Gate.PASSED and not state.get("stepReadyAt"):
        state["stepReadyAt"] = draft.now_iso
        draft.emit(
            "Normal",
            "StepReached",
            f"step {step_index + 1}/{len(steps)}: canary at weight {step.weight}%",
        )

    if not reached and seconds_since(state.get("stepSetAt"), draft.now) > parse_duration(
        rollout_spec.progress_deadline
    ):
        roll_back(
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
                roll_back(draft, analysis.summary or "a check failed", cause="CheckFailed")
                return
            draft.emit(
                "Warning",
                "CheckFailed",
                f"{analysis.summary} ({state['failures']}/{rollout_spec.failure_limit} tolerated)",
            )
        elif analysis.verdict in (INCONCLUSIVE, ERROR):
            state["inconclusive"] = int(state.get("inconclusive", 0)) + 1
            if state["inconclusive"] > rollout_spec.inconclusive_limit:
                roll_back(
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
        promote(draft, "promoted as asked")
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
    if state.get("stepReadyAt"):
        waiting = ""
    elif gate is preflight.Gate.WAITING:
        waiting = f", {preflight.waiting_text(state)}"
    else:
        waiting = f", waiting for {canary_n} canary replicas ({canary_ready} ready)"
    draft.message = (
        f"step {int(state['step']) + 1}/{len(steps)}: canary {draft.revision} ({version}) "
        f"at weight {step.weight}%"
        f"{waiting}{' (paused)' if commands.paused else ''}"
        f"{'; awaiting approval: kubectl modeldeploy promote ' + draft.name if awaiting else ''}"
        f"{'' if rollout_spec.checks else f'; {UNGUARDED}'}"
    )


def _new_rollout(draft: Draft, version: str) -> dict[str, Any]:
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
    draft: Draft, steps: list[RolloutStep], step_index: int, rollout_spec: RolloutSpec
) -> int:
    """Weight for the router: a step's weight only once the canary holds it, else the last one
    it held; never weight to a canary without ready pods."""
    state = draft.rollout or {}
    if draft.observed.ready(draft.revision) == 0:
        return 0
    if state.get("stepReadyAt"):
        return steps[step_index].weight
    return steps[step_index - 1].weight if step_index > 0 else 0


def _advance(draft: Draft, steps: list[RolloutStep], step_index: int, why: str) -> bool:
    """Moves to the next step; True when that was the last step and the canary got promoted."""
    state = draft.rollout
    assert state is not None
    if step_index + 1 >= len(steps):
        promote(draft, f"all {len(steps)} steps passed" if why == "checks passed" else why)
        return True
    state["step"] = step_index + 1
    state["stepSetAt"] = draft.now_iso
    state["stepReadyAt"] = None
    nxt = steps[step_index + 1]
    draft.emit(
        "Normal", "StepAdvanced", f"{why}: step {step_index + 2}/{len(steps)}, weight {nxt.weight}%"
    )
    return False
