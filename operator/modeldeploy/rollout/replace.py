"""Plain replace: without a rollout section a new revision takes over once it is Ready."""

from __future__ import annotations

from modeldeploy.api.commands import Commands
from modeldeploy.api.status import RolloutState
from modeldeploy.rollout.state import PHASE_PROGRESSING, Analysis, Draft, Preflight
from modeldeploy.rollout.transitions import promote


class Replace:
    def progress(
        self,
        draft: Draft,
        commands: Commands,
        analysis: Analysis | None,
        preflight_result: Preflight | None,
    ) -> None:
        replace_when_ready(draft)


def replace_when_ready(draft: Draft) -> None:
    """Without a rollout section a new revision replaces stable once all its replicas are Ready."""
    assert draft.stable is not None
    replicas = draft.spec.replicas
    draft.replicas[draft.stable.revision] = draft.stable.replicas
    draft.replicas[draft.revision] = replicas
    ready = draft.observed.ready(draft.revision)
    if draft.revision in draft.observed.deployments and ready >= replicas:
        promote(draft, "all replicas Ready (no rollout steps configured)")
        return
    if draft.rollout is None:
        draft.rollout = RolloutState(
            revision=draft.revision, version=draft.spec.model.version, started_at=draft.now_iso
        )
    draft.phase = PHASE_PROGRESSING
    draft.message = f"{ready}/{replicas} replicas of new revision {draft.revision} ready"
