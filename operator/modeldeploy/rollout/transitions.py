"""Moves every strategy shares: the first deploy, serving the stable revision, holding a rolled
back revision, dropping a superseded rollout, rolling back and promoting."""

from __future__ import annotations

from modeldeploy.api.status import RolledBackStatus, RolloutState
from modeldeploy.rollout import approximation, preflight
from modeldeploy.rollout.state import (
    PHASE_DEGRADED,
    PHASE_FAILED,
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_ROLLED_BACK,
    UNGUARDED,
    Draft,
    Preflight,
    new_rollout_state,
    progress_deadline_s,
    seconds_since,
)


def first_deploy(draft: Draft, preflight_result: Preflight | None = None) -> None:
    """No stable revision yet: the spec's revision becomes stable once all replicas are Ready
    and, when the spec has one, its smoke test passed. One that fails it is scaled to zero and
    never becomes stable: nothing was served before it, and nothing wrong is served after."""
    version = draft.spec.model.version
    if draft.rolled_back is not None and draft.rolled_back.revision == draft.revision:
        draft.replicas[draft.revision] = 0
        draft.rollout = None
        draft.phase = PHASE_FAILED
        draft.message = (
            f"first deploy of {draft.revision} ({version}) failed: {draft.rolled_back.reason}"
        )
        return
    replicas = draft.spec.replicas
    draft.replicas[draft.revision] = replicas
    ready = draft.observed.ready(draft.revision)
    if draft.revision not in draft.observed.deployments or ready < replicas:
        draft.phase = PHASE_PROGRESSING
        draft.message = f"first deploy: {ready}/{replicas} replicas of {draft.revision} ready"
        return
    if preflight.needed(draft.spec, has_stable=False):
        if draft.rollout is None or draft.rollout.revision != draft.revision:
            draft.rollout = RolloutState(
                revision=draft.revision, version=version, started_at=draft.now_iso
            )
        state = draft.rollout
        assert draft.spec.rollout is not None
        limit = draft.spec.rollout.inconclusive_limit
        gate = preflight.check(draft, state, preflight_result, limit)
        if gate is preflight.Gate.WAITING:
            draft.phase = PHASE_PROGRESSING
            draft.message = (
                f"first deploy: {ready}/{replicas} replicas of {draft.revision} ready; "
                f"{preflight.waiting_text(state)}"
            )
            return
        if gate is preflight.Gate.FAILED:
            assert preflight_result is not None
            _fail_first_deploy(draft, state, preflight.cause_of(preflight_result))
            return
    draft.rollout = None
    draft.stable = draft.revision_status(draft.revision, version, replicas)
    draft.stable.since = draft.now_iso
    draft.emit("Normal", "Deployed", f"revision {draft.revision} ({version}) is Ready")
    draft.record(draft.revision, version, "Deployed", "first deploy")
    steady(draft)


def _fail_first_deploy(draft: Draft, state: RolloutState, cause: str) -> None:
    version = draft.spec.model.version
    record = state.preflight
    assert record is not None
    reason = str(record.message)
    draft.rolled_back = RolledBackStatus(
        revision=draft.revision,
        version=version,
        reason=reason,
        at=draft.now_iso,
        cause=cause,
        preflight=record,
    )
    draft.rollout = None
    draft.replicas[draft.revision] = 0
    draft.emit("Warning", cause, f"first deploy of {draft.revision} ({version}) failed: {reason}")
    draft.record(draft.revision, version, "Failed", reason)
    draft.phase = PHASE_FAILED
    draft.message = f"first deploy of {draft.revision} ({version}) failed: {reason}"


def steady(draft: Draft) -> None:
    assert draft.stable is not None
    replicas = draft.spec.replicas
    revision = draft.stable.revision
    since = draft.stable.since
    if draft.stable.replicas != replicas:
        since = draft.now_iso  # a scale change restarts the clock on becoming Ready
    draft.stable = draft.revision_status(revision, draft.stable.version, replicas)
    draft.stable.since = since
    draft.replicas[revision] = replicas
    if draft.rolled_back is not None and draft.rolled_back.revision != draft.revision:
        draft.rolled_back = None  # the spec moved on from the revision that failed
    stable_phase(draft)


def stable_phase(draft: Draft) -> None:
    assert draft.stable is not None
    replicas = draft.spec.replicas
    ready = draft.observed.ready(draft.stable.revision)
    stable = draft.stable
    text = f"{ready}/{replicas} replicas of {stable.revision} ({stable.version}) ready"
    if ready >= replicas:
        draft.phase, draft.message = PHASE_READY, text
    elif seconds_since(draft.stable.since, draft.now) < progress_deadline_s(draft.spec):
        draft.phase, draft.message = PHASE_PROGRESSING, text
    else:
        draft.phase, draft.message = PHASE_DEGRADED, text


def hold_rolled_back(draft: Draft) -> None:
    """The spec still asks for a revision that was rolled back: serve stable, keep the canary's
    Deployment at zero for inspection, and wait for a new spec or a retry."""
    assert draft.stable is not None and draft.rolled_back is not None
    steady(draft)
    draft.replicas[draft.rolled_back.revision] = 0
    ready = draft.observed.ready(draft.stable.revision)
    draft.phase = PHASE_ROLLED_BACK
    failed = draft.rolled_back
    draft.message = (
        f"revision {failed.revision} ({failed.version}) was rolled back: "
        f"{failed.reason}; serving {draft.stable.revision} "
        f"({draft.stable.version}), {ready}/{draft.spec.replicas} ready"
    )


def supersede_if_stale(draft: Draft, reason: str | None = None) -> None:
    """A canary of a revision the spec no longer asks for is dropped."""
    if draft.rollout is None or draft.rollout.revision == draft.revision:
        return
    old = draft.rollout
    why = reason or f"the spec now asks for revision {draft.revision}"
    draft.emit("Normal", "Superseded", f"canary {old.revision} ({old.version}) dropped: {why}")
    draft.record(old.revision, old.version, "Superseded", why)
    draft.rollout = None
    draft.checks = []


def roll_back_if_crashed(draft: Draft) -> bool:
    """A new revision whose serving containers crash during its rollout is rolled back at once,
    without waiting for a check or the progress deadline: a crash-looping pod comes back Ready
    between crashes, serves again and fails its clients again on the next one."""
    crashes = draft.observed.crashes.get(draft.revision)
    if not crashes:
        return False
    described = "; ".join(crash.describe() for crash in crashes)
    roll_back(draft, f"revision {draft.revision} crashed: {described}", cause="Crashed")
    return True


def roll_back(draft: Draft, reason: str, *, cause: str) -> None:
    """Weight 0 and the canary scaled to zero in this very decision; stable back to full size."""
    assert draft.stable is not None
    version = draft.rollout.version if draft.rollout is not None else draft.spec.model.version
    draft.replicas[draft.stable.revision] = draft.spec.replicas
    draft.replicas[draft.revision] = 0
    draft.weight = 0
    draft.rolled_back = RolledBackStatus(
        revision=draft.revision, version=version, reason=reason, at=draft.now_iso, cause=cause
    )
    draft.rollout = None
    draft.emit(
        "Warning", "RolledBack", f"canary {draft.revision} ({version}) rolled back: {reason}"
    )
    draft.record(draft.revision, version, "RolledBack", reason)
    draft.phase = PHASE_ROLLED_BACK
    draft.message = f"revision {draft.revision} ({version}) was rolled back: {reason}"
    draft.stable.replicas = draft.spec.replicas
    draft.stable.since = draft.now_iso


def promote(draft: Draft, why: str) -> None:
    """The canary's Deployment becomes stable as it is: its pods, model loaded, keep running."""
    assert draft.stable is not None
    version = draft.spec.model.version
    old = draft.stable
    running = draft.observed.deployments.get(old.revision)
    if running is not None:
        old.replicas = running.replicas
    draft.previous = old
    draft.stable = draft.revision_status(draft.revision, version, draft.spec.replicas)
    draft.stable.since = draft.now_iso
    draft.promoted_at = draft.now_iso
    draft.rollout = None
    draft.replicas[draft.revision] = draft.spec.replicas
    draft.weight = 0
    draft.emit(
        "Normal",
        "Promoted",
        f"revision {draft.revision} ({version}) promoted, {why}; "
        f"{old.revision} ({old.version}) is kept for undo",
    )
    draft.record(draft.revision, version, "Promoted", why)
    stable_phase(draft)


def refuse_promote(draft: Draft) -> None:
    """A promote asked for before the new revision passed its preflight is not carried out."""
    draft.emit(
        "Warning",
        "PromoteRefused",
        f"promote of {draft.revision} refused: it has not passed its preflight yet (Ready pods, "
        "schema, smoke test); ask again once it has",
    )


def start_rollout(draft: Draft, announcement: str) -> RolloutState:
    """`status.rollout` of the spec's revision, begun now (with its Events) unless under way."""
    if draft.rollout is None or draft.rollout.step is None:
        draft.rollout = new_rollout_state(draft)
        draft.checks = []
        draft.emit("Normal", "RolloutStarted", announcement)
        assert draft.spec.rollout is not None
        if not draft.spec.rollout.checks:
            draft.emit("Warning", "Unguarded", UNGUARDED)
        approximate = approximation.warning(draft.spec)
        if approximate is not None:
            draft.emit("Warning", "WeightApproximated", approximate)
    return draft.rollout


def pass_preflight(draft: Draft, state: RolloutState, result: Preflight | None) -> preflight.Gate:
    """The preflight of new pods that are Ready and have no weight yet; a failed one is rolled
    back here, its record kept with the rollback."""
    if not preflight.needed(draft.spec, has_stable=True):
        return preflight.Gate.PASSED
    assert draft.spec.rollout is not None
    gate = preflight.check(draft, state, result, draft.spec.rollout.inconclusive_limit)
    if gate is preflight.Gate.FAILED:
        assert result is not None
        record = state.preflight
        assert record is not None
        roll_back(draft, str(record.message), cause=preflight.cause_of(result))
        assert draft.rolled_back is not None
        draft.rolled_back.preflight = record
    return gate
