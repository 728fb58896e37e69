"""The status a decision leaves behind: phase, conditions, tracks, the client Service's
revisions; and the status of a spec the operator refuses."""

from __future__ import annotations

from datetime import datetime

from modeldeploy.api import conditions as cond
from modeldeploy.api import names
from modeldeploy.api.status import ModelDeploymentStatus, RevisionStatus
from modeldeploy.rollout import preflight
from modeldeploy.rollout.state import (
    PHASE_AWAITING_APPROVAL,
    PHASE_CANARY,
    PHASE_DEGRADED,
    PHASE_FAILED,
    PHASE_PAUSED,
    PHASE_PREVIEW,
    PHASE_PROGRESSING,
    PHASE_ROLLED_BACK,
    PHASE_SHADOW,
    Decision,
    Draft,
    iso,
)


def refused_status(
    status: ModelDeploymentStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> ModelDeploymentStatus:
    """Status for a spec the operator cannot act on (`reason`: InvalidSpec, PolicyViolation);
    what is serving is left as it is."""
    updated = status.model_copy()
    updated.observed_generation = generation
    updated.phase = PHASE_FAILED
    updated.message = message
    updated.conditions = cond.merge_conditions(
        status.conditions,
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


def _filling(draft: Draft, stable_ready: int) -> str | None:
    """The revision that served before a promotion or an undo, while it is still up and the
    new stable is not yet at full strength."""
    previous = draft.previous
    if previous is None or stable_ready >= draft.spec.replicas:
        return None
    if draft.replicas.get(previous.revision, 0) <= 0:
        return None
    if draft.observed.ready(previous.revision) <= 0:
        return None
    return previous.revision


def _client_revisions(draft: Draft, stable_ready: int) -> list[str]:
    """The revisions the client Service sends to. Before there is a stable, the first revision
    serves only once nothing stands between it and clients: a first deploy with a preflight
    gets no client until it passed (it becomes stable then), one that failed it never does."""
    if draft.stable is None:
        if preflight.needed(draft.spec, has_stable=False):
            return []
        return [draft.revision] if draft.replicas.get(draft.revision, 0) > 0 else []
    canary = draft.rollout.revision if draft.rollout is not None else None
    chosen = draft.router.client_revisions(
        draft.stable.revision, canary, draft.weight, _filling(draft, stable_ready)
    )
    # A Service selects by equality only: for two revisions it selects every pod of the model.
    # A canary with pods but without weight (its preflight under way) would be among them, so
    # then the stable alone serves.
    if len(chosen) > 1 and canary not in chosen and draft.replicas.get(str(canary), 0) > 0:
        return [draft.stable.revision]
    return chosen


# Phases on the way to the spec's revision, and those that will not reach it without a person
# (rolled back, replicas unavailable past the deadline): the reasons of the conditions that
# say so, Progressing and kstatus' Reconciling, Degraded and kstatus' Stalled.
_ON_THE_WAY = {
    PHASE_PROGRESSING: "NewReplicas",
    PHASE_CANARY: "CanaryProgressing",
    PHASE_PREVIEW: "Preview",
    PHASE_SHADOW: "Shadow",
    PHASE_PAUSED: "Paused",
    PHASE_AWAITING_APPROVAL: "AwaitingApproval",
}
_STUCK = {
    PHASE_DEGRADED: "ReplicasUnavailable",
    PHASE_ROLLED_BACK: "RolledBack",
    PHASE_FAILED: "FirstDeployFailed",
}


def finish(
    draft: Draft, status: ModelDeploymentStatus, generation: int | None, route_weight: int | None
) -> Decision:
    before = status.phase
    if draft.phase == PHASE_PAUSED and before != PHASE_PAUSED:
        draft.emit("Normal", "Paused", draft.message)
    elif draft.phase == PHASE_AWAITING_APPROVAL and before != PHASE_AWAITING_APPROVAL:
        draft.emit("Normal", "AwaitingApproval", draft.message)
    elif before == PHASE_PAUSED and draft.phase in (PHASE_CANARY, PHASE_PREVIEW):
        draft.emit("Normal", "Resumed", draft.message)
    stable = draft.stable
    if stable is not None:
        stable.ready_replicas = draft.observed.ready(stable.revision)
    canary: RevisionStatus | None = None
    canary_revision: str | None = None
    if draft.rollout is not None and stable is not None:
        canary_revision = draft.rollout.revision
        canary = draft.revision_status(
            canary_revision, draft.rollout.version, draft.replicas.get(canary_revision, 0)
        )
    if draft.weight == 0 and canary is None:
        effective = 0
    else:
        effective = draft.router.effective_weight(
            draft.weight,
            draft.observed.ready(stable.revision) if stable else 0,
            draft.observed.ready(canary_revision) if canary_revision else 0,
            route_weight,
        )
    replicas = draft.spec.replicas
    stable_ready = draft.observed.ready(stable.revision) if stable else 0
    phase = draft.phase
    ramping = phase in (
        PHASE_CANARY,
        PHASE_PREVIEW,
        PHASE_SHADOW,
        PHASE_PAUSED,
        PHASE_AWAITING_APPROVAL,
    ) or (phase == PHASE_PROGRESSING and canary is not None)
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
    new_status = ModelDeploymentStatus(
        observed_generation=generation,
        phase=phase,
        message=draft.message,
        revision=draft.revision,
        stable=stable,
        canary=canary,
        previous=draft.previous,
        promoted_at=draft.promoted_at if draft.previous is not None else None,
        rollout=draft.rollout,
        rolled_back=draft.rolled_back,
        weight=draft.weight,
        effective_weight=effective,
        checks=draft.checks if (draft.rollout is not None or draft.rolled_back is not None) else [],
        replicas=sum(deployment.pods for deployment in draft.observed.deployments.values()),
        selector=names.pods_selector(draft.name),
        ready_replicas=stable_ready,
        ready=f"{stable_ready}/{replicas}",
        history=draft.history,
        handled_commands=draft.handled or None,
        conditions=cond.merge_conditions(status.conditions, updates, draft.now_iso, generation),
    )
    sources = {rev: src for rev in draft.replicas if (src := draft.source_of(rev)) is not None}
    return Decision(
        replicas=draft.replicas,
        sources=sources,
        stable_revision=stable.revision if stable else None,
        canary_revision=canary_revision,
        weight=draft.weight,
        client_revisions=_client_revisions(draft, stable_ready),
        status=new_status,
        events=draft.events,
        shadow=draft.shadow,
    )
