"""What the operator tells webhooks, and whom: pure builders; `sender` sends.

Every rollout decision worth a person's attention is an Event; the same decisions go to the
webhooks of the ModelDeployment and of the ClusterRolloutPolicy that governs it (each one those
of the Events it lists), as a generic JSON document, a Slack-compatible message or a Microsoft
Teams message holding an Adaptive Card.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modeldeploy.api.spec import NOTIFIED_EVENTS, Notification
from modeldeploy.api.status import ModelDeploymentStatus


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
    events: frozenset[str] | None = None
    """The Event reasons it is told of; None for every one."""

    def wants(self, reason: str) -> bool:
        return self.events is None or reason in self.events


def _targets(owner: str, notifications: Iterable[Notification], namespace: str) -> list[Target]:
    found = []
    for notification in notifications:
        hook = notification.webhook
        secret = None
        if hook.url_from is not None:
            ref = hook.url_from.secret_key_ref
            secret = SecretKey(namespace, ref.name, ref.key)
        events = frozenset(notification.events) if notification.events is not None else None
        found.append(Target(owner, notification.name, hook.url, secret, hook.format, events))
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


def recipients(targets: Iterable[Target], reason: str) -> list[Target]:
    """The targets told of an Event of `reason`."""
    return [target for target in targets if target.wants(reason)]


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


# The colour of a card's title: good news, something to look at, or something wrong.
_TEAMS_COLOR = {
    "promoted": "Good",
    "paused": "Warning",
    "awaiting-approval": "Warning",
    "rolled-back": "Attention",
    "policy-violation": "Attention",
}
TEAMS_CARD = "application/vnd.microsoft.card.adaptive"


def _facts(pairs: list[tuple[str, object]]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [{"title": title, "value": str(value)} for title, value in pairs],
    }


def teams_message(message: dict[str, Any]) -> dict[str, Any]:
    """A Microsoft Teams message holding an Adaptive Card 1.4, as Teams' incoming webhooks and
    its workflows' "when a webhook request is received" take it."""
    kind = message["kind"]
    revision = message.get("revision")
    version = message.get("version")
    policy = message.get("policy")
    weight = message.get("weight")
    facts: list[tuple[str, object]] = [
        ("Revision", f"{revision} ({version})" if revision is not None else None),
        ("Phase", message.get("phase")),
        ("Weight", f"{weight}%" if weight is not None else None),
        ("Stable", message.get("stable")),
        ("Policy", f"{policy['name']} (generation {policy['generation']})" if policy else None),
        ("At", message.get("at")),
    ]
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{message['namespace']}/{message['name']}: {kind.replace('-', ' ')}",
            "weight": "Bolder",
            "size": "Medium",
            "color": _TEAMS_COLOR.get(kind, "Default"),
            "wrap": True,
        },
        {"type": "TextBlock", "text": message["message"], "wrap": True},
        _facts([(title, value) for title, value in facts if value is not None]),
    ]
    checks = message.get("checks") or []
    if checks:
        body.append({"type": "TextBlock", "text": "Checks", "weight": "Bolder", "wrap": True})
        body.append(_facts([(c["name"], c.get("message") or c.get("verdict")) for c in checks]))
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    return {"type": "message", "attachments": [{"contentType": TEAMS_CARD, "content": card}]}


def payload(target: Target, message: dict[str, Any]) -> dict[str, Any]:
    if target.format == "slack":
        return slack_message(message)
    if target.format == "teams":
        return teams_message(message)
    return message
