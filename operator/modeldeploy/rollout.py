"""The decision core: (spec, revision, status, observed world, now) → what should be.

Every phase change happens here and nowhere else. The result names the replicas of each
revision's Deployment, which revisions are stable and canary, the new status and the Events
that explain it; the kopf layer only applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modeldeploy import conditions as cond
from modeldeploy import names
from modeldeploy.observed import Observed
from modeldeploy.spec import ModelDeploymentSpec, parse_duration

PHASE_PROGRESSING = "Progressing"
PHASE_READY = "Ready"
PHASE_DEGRADED = "Degraded"
PHASE_FAILED = "Failed"

DEFAULT_SCALE_DOWN_DELAY_S = 30.0


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    replicas: dict[str, int]
    """Revision → replicas of its Deployment. Revisions not named here are deleted."""
    stable_revision: str | None
    canary_revision: str | None
    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    @property
    def service_revision(self) -> str | None:
        return self.stable_revision or self.canary_revision


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _revision_status(
    name: str, revision: str, version: str, replicas: int, observed: Observed
) -> dict[str, Any]:
    return {
        "revision": revision,
        "version": version,
        "deployment": names.deployment_name(name, revision),
        "replicas": replicas,
        "readyReplicas": observed.ready(revision),
    }


def invalid_spec_status(
    status: dict[str, Any], message: str, generation: int | None, now: datetime
) -> dict[str, Any]:
    """Status for a spec the operator cannot act on; what is serving is left as it is."""
    updated = dict(status)
    updated["observedGeneration"] = generation
    updated["phase"] = PHASE_FAILED
    updated["message"] = message
    updated["conditions"] = cond.merge_conditions(
        status.get("conditions", []),
        [
            cond.ConditionUpdate(cond.DEGRADED, "True", "InvalidSpec", message),
            cond.ConditionUpdate(cond.PROGRESSING, "False", "InvalidSpec", message),
        ],
        _iso(now),
        generation,
    )
    return updated


def decide(
    name: str,
    model_spec: ModelDeploymentSpec,
    revision: str,
    status: dict[str, Any],
    observed: Observed,
    now: datetime,
    generation: int | None,
) -> Decision:
    replicas = model_spec.replicas
    version = model_spec.model.version
    stable: dict[str, Any] | None = status.get("stable")
    if stable is not None and stable.get("revision") not in observed.deployments:
        # The stable Deployment is gone (deleted by hand): rebuild it from the spec.
        stable = None
    previous: dict[str, Any] | None = status.get("previous")
    events: list[Event] = []
    desired: dict[str, int] = {}
    canary: dict[str, Any] | None = None
    promoted_at: str | None = status.get("promotedAt")
    now_iso = _iso(now)

    if stable is None:
        desired[revision] = replicas
        ready = observed.ready(revision)
        if revision in observed.deployments and ready >= replicas:
            stable = _revision_status(name, revision, version, replicas, observed)
            events.append(Event("Normal", "Deployed", f"revision {revision} ({version}) is Ready"))
    elif stable["revision"] == revision:
        desired[revision] = replicas
        stable = _revision_status(name, revision, version, replicas, observed)
    else:
        # A new revision replaces the stable one once all its replicas are ready.
        desired[stable["revision"]] = stable.get("replicas", replicas)
        desired[revision] = replicas
        if observed.ready(revision) >= replicas and revision in observed.deployments:
            events.append(
                Event(
                    "Normal",
                    "Promoted",
                    f"revision {revision} ({version}) replaced {stable['revision']}"
                    f" ({stable.get('version')})",
                )
            )
            previous = dict(stable)
            stable = _revision_status(name, revision, version, replicas, observed)
            desired[revision] = replicas
            promoted_at = now_iso
        else:
            canary = _revision_status(name, revision, version, replicas, observed)

    if previous is not None and stable is not None and previous["revision"] != stable["revision"]:
        delay = DEFAULT_SCALE_DOWN_DELAY_S
        if model_spec.rollout is not None:
            delay = parse_duration(model_spec.rollout.scale_down_delay)
        still_warm = promoted_at is not None and _elapsed_s(promoted_at, now) < delay
        desired.setdefault(previous["revision"], previous.get("replicas", 0) if still_warm else 0)
    else:
        previous = None

    stable_ready = observed.ready(stable["revision"]) if stable else 0
    if stable is not None and stable_ready >= replicas and canary is None:
        phase = PHASE_READY
        message = f"{stable_ready}/{replicas} replicas of {stable['revision']} ready"
    elif stable is not None and canary is None:
        phase = PHASE_DEGRADED if stable_ready < replicas else PHASE_READY
        message = f"{stable_ready}/{replicas} replicas of {stable['revision']} ready"
    else:
        phase = PHASE_PROGRESSING
        message = f"{observed.ready(revision)}/{replicas} replicas of {revision} ready"

    updates = [
        cond.ConditionUpdate(
            cond.READY,
            "True" if phase == PHASE_READY else "False",
            "StableReady" if phase == PHASE_READY else "StableNotReady",
            message,
        ),
        cond.ConditionUpdate(
            cond.PROGRESSING,
            "True" if phase == PHASE_PROGRESSING else "False",
            "NewRevision" if phase == PHASE_PROGRESSING else "Complete",
            message if phase == PHASE_PROGRESSING else f"revision {revision} is serving",
        ),
        cond.ConditionUpdate(
            cond.DEGRADED,
            "True" if phase == PHASE_DEGRADED else "False",
            "ReplicasUnavailable" if phase == PHASE_DEGRADED else "AsExpected",
            message if phase == PHASE_DEGRADED else "",
        ),
    ]
    new_status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "message": message,
        "revision": revision,
        "stable": stable,
        "canary": canary,
        "previous": previous,
        "promotedAt": promoted_at,
        "weight": 0,
        "replicas": replicas,
        "readyReplicas": stable_ready,
        "ready": f"{stable_ready}/{replicas}",
        "conditions": cond.merge_conditions(
            status.get("conditions", []), updates, now_iso, generation
        ),
    }
    return Decision(
        replicas=desired,
        stable_revision=stable["revision"] if stable else None,
        canary_revision=canary["revision"] if canary else (None if stable else revision),
        status=new_status,
        events=events,
    )


def _elapsed_s(since_iso: str, now: datetime) -> float:
    since = datetime.strptime(since_iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
    return (now - since).total_seconds()
