"""The canary: weighted steps, each gated on its checks, optional pauses and approval steps."""

from __future__ import annotations

from dataclasses import replace

from modeldeploy.api.commands import Commands
from modeldeploy.api.spec import RolloutSpec, RolloutStep, parse_duration
from modeldeploy.api.status import RolloutState, ShadowState
from modeldeploy.rollout import preflight, shadow
from modeldeploy.rollout.assess import Assessed, assess
from modeldeploy.rollout.state import (
    PHASE_AWAITING_APPROVAL,
    PHASE_CANARY,
    PHASE_PAUSED,
    PHASE_SHADOW,
    UNGUARDED,
    Analysis,
    Draft,
    Preflight,
    resolved_steps,
    seconds_since,
    step_of,
)
from modeldeploy.rollout.transitions import (
    pass_preflight,
    promote,
    refuse_promote,
    roll_back,
    roll_back_if_crashed,
    start_rollout,
)


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
    state = start_rollout(
        draft,
        f"canary {draft.revision} ({version}) starts at step 1/{len(steps)}: "
        f"weight {steps[0].weight}%",
    )

    if commands.abort:
        roll_back(draft, "aborted as asked", cause="Aborted")
        return
    if roll_back_if_crashed(draft):
        return

    step_index = min(step_of(state), len(steps) - 1)
    step = steps[step_index]
    stable_n, canary_n = draft.router.track_replicas(draft.spec.replicas, step.weight)
    canary_ready = draft.observed.ready(draft.revision)
    reached = draft.revision in draft.observed.deployments and canary_ready >= canary_n

    # Before the first weight, the new pods pass the preflight: no client request reaches
    # them until it has.
    gate = preflight.Gate.PASSED
    if reached and step_index == 0 and not state.step_ready_at:
        gate = pass_preflight(draft, state, preflight_result)
        if gate is preflight.Gate.FAILED:
            return

    # A person's promote moves a ramp on, never past the preflight: until the new pods passed
    # it, the command is refused (and said so), not kept for a later moment it did not name.
    vetted = (
        step_index > 0 or bool(state.step_ready_at) or (reached and gate is preflight.Gate.PASSED)
    )
    if commands.promote is not None and not vetted:
        refuse_promote(draft)
        commands = replace(commands, promote=None)

    promoted_shadow = False
    if (
        reached
        and gate is preflight.Gate.PASSED
        and step_index == 0
        and not state.step_ready_at
        and rollout_spec.shadow is not None
        and not (state.shadow is not None and state.shadow.passed_at)
    ):
        if commands.promote == "full":
            promote(draft, "promoted as asked")
            return
        outcome = _shadow_phase(draft, state, rollout_spec, commands, analysis)
        if outcome is not Assessed.PASSED:
            if outcome is Assessed.HELD:
                _hold_in_shadow(draft, state, rollout_spec, commands, canary_n)
            return
        # The run that ended the shadow is not the step's: its first check waits an interval.
        analysis = None
        promoted_shadow = commands.promote == "step"

    # Paused before its first weight, the canary stays at none: pause holds every phase.
    held_at_zero = commands.paused and step_index == 0 and not promoted_shadow
    if reached and gate is preflight.Gate.PASSED and not state.step_ready_at and not held_at_zero:
        state.step_ready_at = draft.now_iso
        draft.emit(
            "Normal",
            "StepReached",
            f"step {step_index + 1}/{len(steps)}: canary at weight {step.weight}%",
        )

    # The deadline is the step's: pods a scale-up adds to a step already reached come up in
    # their own time, and the ramp waits for them before it moves on.
    if (
        not reached
        and not state.step_ready_at
        and seconds_since(state.step_set_at, draft.now)
        > parse_duration(rollout_spec.progress_deadline)
    ):
        roll_back(
            draft,
            f"canary not Ready within progressDeadline {rollout_spec.progress_deadline}: "
            f"{canary_ready}/{canary_n} replicas ready",
            cause="ProgressDeadlineExceeded",
        )
        return

    # Every run of the checks is judged, between steps too: a failure then rolls back as well.
    # Only a pass at least an interval into the step, at its weight, moves the ramp on.
    if analysis is not None:
        verdict = assess(draft, state, rollout_spec, analysis)
        if verdict is Assessed.ROLLED_BACK:
            return
        # Only a step that was reached, its preflight passed, was judged at its weight.
        judged_at_weight = (
            reached
            and bool(state.step_ready_at)
            and seconds_since(state.step_ready_at, draft.now)
            >= parse_duration(rollout_spec.interval)
        )
        if verdict is Assessed.PASSED and judged_at_weight:
            pause_s = parse_duration(step.pause) if step.pause else 0.0
            paused_long_enough = seconds_since(state.step_ready_at, draft.now) >= pause_s
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
    if (
        commands.promote == "step"
        and not promoted_shadow
        and _advance(draft, steps, step_index, "promoted one step as asked")
    ):
        return

    # The step may have moved on above: size the tracks for the step the ramp is at now.
    step_index = step_of(state)
    step = steps[step_index]
    draft.weight = _routed_weight(draft, steps, step_index, rollout_spec)
    stable_n, canary_n = draft.router.track_replicas(draft.spec.replicas, step.weight, draft.weight)
    draft.replicas[draft.stable.revision] = stable_n
    draft.replicas[draft.revision] = canary_n
    state.step_weight = step.weight
    awaiting = step.approval == "required" and bool(state.step_ready_at)
    if commands.paused:
        draft.phase = PHASE_PAUSED
    elif awaiting:
        draft.phase = PHASE_AWAITING_APPROVAL
    else:
        draft.phase = PHASE_CANARY
    if state.step_ready_at:
        waiting = ""
    elif held_at_zero and reached and gate is preflight.Gate.PASSED:
        waiting = ", held at weight 0 until resumed"
    elif gate is preflight.Gate.WAITING:
        waiting = f", {preflight.waiting_text(state)}"
    else:
        waiting = f", waiting for {canary_n} canary replicas ({canary_ready} ready)"
    share = draft.router.honoured_weight(draft.spec.replicas, step.weight)
    pods = (
        f" ({share}% of the pods: {canary_n} of {draft.spec.replicas})"
        if share != step.weight
        else ""
    )
    draft.message = (
        f"step {step_index + 1}/{len(steps)}: canary {draft.revision} ({version}) "
        f"at weight {step.weight}%{pods}"
        f"{waiting}{' (paused)' if commands.paused else ''}"
        f"{'; awaiting approval: kubectl modeldeploy promote ' + draft.name if awaiting else ''}"
        f"{'' if rollout_spec.checks else f'; {UNGUARDED}'}"
    )


def _routed_weight(
    draft: Draft, steps: list[RolloutStep], step_index: int, rollout_spec: RolloutSpec
) -> int:
    """Weight for the router: a step's weight only once the canary holds it, else the last one
    it held; never weight to a canary without ready pods."""
    if draft.observed.ready(draft.revision) == 0:
        return 0
    if draft.rollout is not None and draft.rollout.step_ready_at:
        return steps[step_index].weight
    return steps[step_index - 1].weight if step_index > 0 else 0


def _advance(draft: Draft, steps: list[RolloutStep], step_index: int, why: str) -> bool:
    """Moves to the next step; True when that was the last step and the canary got promoted."""
    state = draft.rollout
    assert state is not None
    if step_index + 1 >= len(steps):
        promote(draft, f"all {len(steps)} steps passed" if why == "checks passed" else why)
        return True
    state.step = step_index + 1
    state.step_set_at = draft.now_iso
    state.step_ready_at = None
    nxt = steps[step_index + 1]
    draft.emit(
        "Normal", "StepAdvanced", f"{why}: step {step_index + 2}/{len(steps)}, weight {nxt.weight}%"
    )
    return False


def _shadow_phase(
    draft: Draft,
    state: RolloutState,
    rollout_spec: RolloutSpec,
    commands: Commands,
    analysis: Analysis | None,
) -> Assessed:
    """Runs the shadow phase one decision further: PASSED when it is over (its checks passed
    for its whole duration, or a person promoted), ROLLED_BACK, or HELD while it goes on."""
    assert rollout_spec.shadow is not None
    shadow_spec = rollout_spec.shadow
    record = state.shadow.model_copy() if state.shadow is not None else None
    if record is None or not record.started_at:
        record = ShadowState(started_at=draft.now_iso)
        draft.emit(
            "Normal",
            "ShadowStarted",
            f"the stable's pods copy {shadow_spec.percent:g}% of live requests to "
            f"{draft.revision} for {shadow_spec.duration}; its answers reach no client",
        )
    state.shadow = record
    if commands.promote == "step":
        record.passed_at = draft.now_iso
        draft.emit("Normal", "ShadowPassed", "shadow phase ended as asked")
        return Assessed.PASSED
    if analysis is None:
        return Assessed.HELD
    verdict = assess(draft, state, rollout_spec, analysis)
    if verdict is not Assessed.PASSED:
        return verdict
    # Paused, the shadow goes on copying and judging (a breach still rolls back), but does not
    # end: the first weight waits for the resume.
    if commands.paused:
        return Assessed.HELD
    if seconds_since(record.started_at, draft.now) < parse_duration(shadow_spec.duration):
        return Assessed.HELD
    record.passed_at = draft.now_iso
    draft.emit(
        "Normal",
        "ShadowPassed",
        f"{draft.revision} agreed with the stable for {shadow_spec.duration}: {analysis.summary}",
    )
    return Assessed.PASSED


def _hold_in_shadow(
    draft: Draft,
    state: RolloutState,
    rollout_spec: RolloutSpec,
    commands: Commands,
    canary_n: int,
) -> None:
    """Both tracks up, the stable at full size since it alone serves clients, no weight."""
    assert draft.stable is not None and rollout_spec.shadow is not None
    assert state.shadow is not None
    draft.replicas[draft.stable.revision] = draft.spec.replicas
    draft.replicas[draft.revision] = canary_n
    draft.weight = 0
    draft.shadow = shadow.shadowing(draft.spec, draft.revision)
    draft.phase = PHASE_PAUSED if commands.paused else PHASE_SHADOW
    started = state.shadow.started_at
    elapsed = seconds_since(started, draft.now)
    draft.message = (
        f"shadow: {rollout_spec.shadow.percent:g}% of live requests copied to {draft.revision} "
        f"({draft.spec.model.version}) for {rollout_spec.shadow.duration}, {elapsed:.0f}s so "
        f"far; its answers reach no client{' (paused)' if commands.paused else ''}"
    )
