"""Whose an object is: a child is this ModelDeployment's only while its controller
ownerReference names this ModelDeployment's uid. An object of a child's name that is anyone
else's is never written over, relabelled or deleted: in a shared namespace, a name is not a
claim."""

from __future__ import annotations

from typing import Any

from modeldeploy.api.spec import KIND

CHILD_CONFLICT = "ChildConflict"
"""The reason a ModelDeployment is held: another object already has one of its children's
names."""


def controller_uid(body: dict[str, Any]) -> str | None:
    """The uid of the object's controller (the ownerReference with controller: true)."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid", "")) or None
    return None


def why_foreign(body: dict[str, Any], kind: str, owner_kind: str, owner_uid: str) -> str | None:
    """Why `body` (a `kind` of a child's name) is not this owner's to write; None when it is.

    `owner_kind` is the kind of the expected controller: the ModelDeployment for its Deployments
    and Services, a Deployment for its PodDisruptionBudget."""
    meta = body.get("metadata") or {}
    name = meta.get("name", "")
    refs = [ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")]
    if not refs:
        return f"{kind} {name} exists and has no controller; it is not this {owner_kind}'s"
    ref = refs[0]
    if str(ref.get("uid", "")) == owner_uid:
        return None
    controller = f"{ref.get('kind', '?')} {ref.get('name', '?')}"
    return f"{kind} {name} exists and is controlled by {controller}, not this {owner_kind}"


def conflict_message(reasons: list[str]) -> str:
    return (
        "; ".join(reasons)
        + f": left untouched, and nothing new is applied until it is gone or renamed (a "
        f"{KIND}'s children take their names from it)"
    )
