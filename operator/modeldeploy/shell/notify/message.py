"""What the operator tells webhooks, and whom: pure builders; `sender` sends.

Every rollout decision worth a person's attention is an Event; the same decisions go to the
webhooks of the ModelDeployment and of the ClusterRolloutPolicy that governs it, as a generic
JSON document or as a Slack-compatible message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modeldeploy.api.spec import Notification
from modeldeploy.api.status import ModelDeploymentStatus

# Event reason -> the notification's kind.
NOTIFIED_EVENTS = {
    "RolloutStarted": "rollout-started",
    "StepAdvanced": "step-passed",
    "Paused": "paused",
    "AwaitingApproval": "awaiting-approval",
    "Promoted": "promoted",
    "RolledBack": "rolled-back",
    "PolicyViolation": "policy-violation",
}


@dataclass(frozen=True)
class SecretKey:
    namespace: str
    name: str
    key: str


@dataclass(frozen=True)
class Target:
    """One webhook: its URL, or the Secret key that holds it, and the payload format."""

    owner: str
    """Who configured it: "ModelDeployment ns/name" or "ClusterRolloutPolicy name"."""
    name: str
    url: str | None
    url_secret: SecretKey | None
    format: str


def _targets(owner: str, notifications: Iterable[Notification], namespace: str) -> list[Target]:
    found = []
    for notification in notifications:
        hook = notification.webhook
        secret = None
        if hook.url_from is not None:
            ref = hook.url_from.secret_key_ref
            secret = SecretKey(namespace, ref.name, ref.key)
        found.append(Target(owner, notification.name, hook.url, secret, hook.format))
    return found


def targets_for(
    namespace: str,
    name: str,
    own: Iterable[Notification] | None,
    policy_name: str | None,
    policy_notifications: Iterable[Notification] | None,
    operator_namespace: str,
) -> list[Target]:
    """The ModelDeployment's own webhooks (Secrets in its namespace), then its policy's
    (Secrets in the operator's namespace)."""
    return [
        *_targets(f"ModelDeployment {namespace}/{name}", own or [], namespace),
        *_targets(f"ClusterRolloutPolicy {policy_name}", policy_notifications or [],
                  operator_namespace),
    ]  # fmt: skip


def build_message(
    reason: str,
    event_message: str,
    namespace: str,
    name: str,
    status: ModelDeploymentStatus,
    at: str,
) -> dict[str, Any] | None:
    """The generic payload for an Event of `reason`; None when that reason is not notified."""
    kind = NOTIFIED_EVENTS.get(reason)
    if kind is None:
        return None
    failed = status.rolled_back if kind == "rolled-back" else None
    subject = failed or status.rollout or status.stable
    failing = [
        check.model_dump(
            mode="json", include={"name", "verdict", "value", "bound", "message"}, exclude_none=True
        )
        for check in status.checks or []
        if check.verdict != "Pass"
    ]
    message: dict[str, Any] = {
        "kind": kind,
        "reason": reason,
        "message": event_message,
        "at": at,
        "namespace": namespace,
        "name": name,
        "revision": subject.revision if subject is not None else None,
        "version": subject.version if subject is not None else None,
        "phase": status.phase,
        "weight": status.weight,
        "stable": status.stable.version if status.stable is not None else None,
        "policy": status.policy.model_dump(mode="json") if status.policy is not None else None,
    }
    if failing:
        message["checks"] = failing
    return message


_EMOJI = {
    "rollout-started": ":rocket:",
    "step-passed": ":arrow_forward:",
    "paused": ":double_vertical_bar:",
    "awaiting-approval": ":raised_hand:",
    "promoted": ":white_check_mark:",
    "rolled-back": ":rewind:",
    "policy-violation": ":no_entry:",
}


def slack_message(message: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body (also taken by Mattermost, Rocket.Chat and Teams'
    Slack-compatible endpoints)."""
    title = (
        f"{_EMOJI.get(message['kind'], '')} {message['namespace']}/{message['name']}: "
        f"{message['kind'].replace('-', ' ')}"
    ).strip()
    lines = [f"*{title}*", message["message"]]
    for check in message.get("checks") or []:
        lines.append(f"• {check['name']}: {check.get('message') or check.get('verdict')}")
    return {"text": "\n".join(lines)}


def payload(target: Target, message: dict[str, Any]) -> dict[str, Any]:
    return slack_message(message) if target.format == "slack" else message
