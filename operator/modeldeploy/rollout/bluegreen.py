"""Blue/green: the new revision comes up at full size beside the stable, reachable only
through the preview Service (`<name>-canary`); after its preflight it is checked there for
`previewDuration`, optionally waits for a person, and then takes all traffic in one switch.
The old revision stays warm for `scaleDownDelay` and at zero until `rollbackWindow` ends, for
an undo."""

from __future__ import annotations

from modeldeploy.api import names
from modeldeploy.api.commands import Commands
from modeldeploy.api.spec import BlueGreenSpec, RolloutSpec, parse_duration
from modeldeploy.api.status import ShadowState
from modeldeploy.rollout import preflight, shadow
from modeldeploy.rollout.assess import Assessed, assess
from modeldeploy.rollout.state import (
    PHASE_AWAITING_APPROVAL,
    PHASE_PAUSED,
    PHASE_PREVIEW,
    UNGUARDED,
    Analysis,
    Draft,
    Preflight,
    seconds_since,
)
from modeldeploy.rollout.transitions import (
    pass_preflight,
    promote,
    refuse_promote,
    roll_back,
    roll_back_if_crashed,
    start_rollout,
)


class BlueGreen:
    def __init__(self, rollout_spec: RolloutSpec) -> None:
        self.rollout_spec = rollout_spec
        self.options = rollout_spec.blue_green or BlueGreenSpec()

    def progress(
        self,
        draft: Draft,
        commands: Commands,
        analysis: Analysis | None,
        preflight_result: Preflight | None,
    ) -> None:
        assert draft.stable is not None
        rollout_spec, options = self.rollout_spec, self.options
        preview = names.canary_service_name(draft.name)
        version = draft.spec.model.version
        state = start_rollout(
            draft,
            f"blue/green: {draft.revision} ({version}) comes up at full size behind the "
            f"preview Service {preview}",
        )

        if commands.abort:
            roll_back(draft, "aborted as asked", cause="Aborted")
            return
        if roll_back_if_crashed(draft):
            return

        replicas = draft.spec.replicas
        ready = draft.observed.ready(draft.revision)
        reached = draft.revision in draft.observed.deployments and ready >= replicas
        gate = preflight.Gate.PASSED
        if reached and not state.step_ready_at:
            gate = pass_preflight(draft, state, preflight_result)
            if gate is preflight.Gate.FAILED:
                return
            if gate is preflight.Gate.PASSED:
                state.step_ready_at = draft.now_iso
                if rollout_spec.shadow is not None:
                    # The preview also gets copies of live requests, judged as they come.
                    state.shadow = ShadowState(started_at=draft.now_iso)
                draft.emit(
                    "Normal",
                    "PreviewReady",
                    f"{draft.revision} ({version}) is Ready at full size behind {preview}; "
                    f"checked for {options.preview_duration} before the switch",
                )

        deadline = rollout_spec.progress_deadline
        # Pods a scale-up adds to a preview already up come in their own time.
        if (
            not reached
            and not state.step_ready_at
            and seconds_since(state.step_set_at, draft.now) > parse_duration(deadline)
        ):
            roll_back(
                draft,
                f"new revision not Ready within progressDeadline {deadline}: "
                f"{ready}/{replicas} replicas ready",
                cause="ProgressDeadlineExceeded",
            )
            return

        preview_s = parse_duration(options.preview_duration)
        if rollout_spec.shadow is not None:
            preview_s = max(preview_s, parse_duration(rollout_spec.shadow.duration))
        previewed = (
            bool(state.step_ready_at) and seconds_since(state.step_ready_at, draft.now) >= preview_s
        )
        if analysis is not None:
            verdict = assess(draft, state, rollout_spec, analysis)
            if verdict is Assessed.ROLLED_BACK:
                return
            if verdict is Assessed.PASSED and previewed and reached:
                state.preview_passed_at = state.preview_passed_at or draft.now_iso
        passed = bool(state.preview_passed_at)

        if commands.promote is not None:
            # The switch never comes before the preview is up at full size and passed its
            # preflight; after that, a person may cut its time short.
            if not state.step_ready_at:
                refuse_promote(draft)
            else:
                promote(draft, "switched as asked")
                return
        if passed and not commands.paused and options.approval != "required":
            promote(draft, f"previewed for {options.preview_duration} with its checks passing")
            return

        # Both revisions at full size; clients stay on the stable until the switch.
        if shadow.running(state):
            draft.shadow = shadow.shadowing(draft.spec, draft.revision)
        draft.replicas[draft.stable.revision] = replicas
        draft.replicas[draft.revision] = replicas
        draft.weight = 0
        if commands.paused:
            draft.phase = PHASE_PAUSED
        elif passed:
            draft.phase = PHASE_AWAITING_APPROVAL
        else:
            draft.phase = PHASE_PREVIEW
        if not state.step_ready_at:
            doing = (
                preflight.waiting_text(state)
                if gate is preflight.Gate.WAITING
                else f"{ready}/{replicas} replicas ready"
            )
        elif passed:
            doing = f"preview passed; awaiting approval: kubectl modeldeploy promote {draft.name}"
        else:
            doing = f"checked behind {preview} for {options.preview_duration}"
        draft.message = (
            f"blue/green: {draft.revision} ({version}) {doing}"
            f"{' (paused)' if commands.paused else ''}"
            f"{'' if rollout_spec.checks else f'; {UNGUARDED}'}"
        )
