"""Approval by a group: where a ClusterRolloutPolicy names approvers, only they may write the
promote annotation, each write names its writer in `modeldeploy.io/approved-by`, and the
operator honours a promote only beside such a name.

The webhook knows who writes (the AdmissionReview's userInfo); the operator, later, does not,
so the name written beside the promote is what carries the webhook's check to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modeldeploy.api.commands import APPROVED_BY, PROMOTE, Commands
from modeldeploy.api.policy import Approvers
from modeldeploy.policy.select import Policy


def approvers_of(policy: Policy | None) -> Approvers | None:
    if policy is None or policy.spec is None:
        return None
    return policy.spec.rules.approvers


def is_approver(approvers: Approvers, username: str, groups: list[str]) -> bool:
    return username in (approvers.users or []) or bool(set(groups) & set(approvers.groups or []))


def _named(approvers: Approvers) -> str:
    parts = []
    if approvers.groups:
        parts.append("groups " + ", ".join(approvers.groups))
    if approvers.users:
        parts.append("users " + ", ".join(approvers.users))
    return "; ".join(parts) or "nobody"


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return ((obj or {}).get("metadata") or {}).get("annotations") or {}


def approval_refusal(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    policy: Policy | None,
    userinfo: Mapping[str, Any] | None,
) -> str | None:
    """Why this write of a ModelDeployment may not set or change its approval; None when it
    may (or touches neither annotation, or no policy names approvers)."""
    approvers = approvers_of(policy)
    if approvers is None or policy is None:
        return None
    new, before = _annotations(obj), _annotations(old)
    touched = [key for key in (PROMOTE, APPROVED_BY) if new.get(key) != before.get(key)]
    if not [key for key in touched if new.get(key)]:
        return None  # unchanged, or only taken away
    username = str((userinfo or {}).get("username") or "")
    groups = [str(g) for g in (userinfo or {}).get("groups") or []]
    rule = f"policy {policy.name}, rule approvers"
    if not is_approver(approvers, username, groups):
        return (
            f"{rule}: {username or 'an unknown user'} may not approve rollouts here "
            f"({PROMOTE}, {APPROVED_BY}); approvers: {_named(approvers)}"
        )
    if new.get(APPROVED_BY) != username:
        return (
            f"{rule}: an approval names its approver: set {APPROVED_BY}={username} beside {PROMOTE}"
        )
    return None


def honoured(
    commands: Commands, annotations: Mapping[str, str], policy: Policy | None
) -> tuple[Commands, str | None]:
    """The commands with a promote that no approver signed taken out, and why; the promote's
    token is not recorded as handled, so an approver's name added later is honoured."""
    if commands.promote is None or approvers_of(policy) is None or policy is None:
        return commands, None
    if annotations.get(APPROVED_BY):
        return commands, None
    tokens = {verb: token for verb, token in commands.tokens.items() if verb != "promote"}
    why = (
        f"promote ignored: policy {policy.name} names approvers, and {PROMOTE} has no "
        f"{APPROVED_BY} beside it"
    )
    return replace(commands, promote=None, tokens=tokens), why
