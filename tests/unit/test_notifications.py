"""Notifications: whom they go to, what they say, and that a bad receiver delays nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modeldeploy.api.spec import NOTIFIED_EVENTS, Notification, parse_spec
from modeldeploy.api.status import CheckStatus, ModelDeploymentStatus, parse_status
from modeldeploy.api.webhook_targets import TargetRules
from modeldeploy.rollout import Event
from modeldeploy.shell.notify import sender as notify
from modeldeploy.shell.notify.message import (
    TEAMS_CARD,
    SecretKey,
    Target,
    build_message,
    payload,
    recipients,
    slack_message,
    targets_for,
    teams_message,
)
from modeldeploy.shell.notify.sender import Notifier
from modeldeploy.shell.reconcile.record import Recorder
from modeldeploy.shell.stores import ChildStore, ModelDeploymentStore

EMPTY = ModelDeploymentStatus()

ROLLED_BACK = parse_status({
    "phase": "RolledBack",
    "weight": 0,
    "stable": {"revision": "r1", "version": "v1", "deployment": "fraud-r1"},
    "rolledBack": {"revision": "r3", "version": "v3", "reason": "error-rate 0.5 > max 0.05",
                   "at": "T"},
    "policy": {"name": "production", "generation": 2},
    "checks": [
        {"name": "error-rate", "verdict": "Fail", "value": 0.5, "bound": "max 0.05",
         "message": "0.500 > max 0.05"},
        {"name": "latency-p95", "verdict": "Pass", "value": 0.01, "message": "ok"},
    ],
})  # fmt: skip


def hook(name: str, events: list[str] | None = None, **webhook: Any) -> Notification:
    listed = {"events": events} if events is not None else {}
    return Notification.model_validate({"name": name, "webhook": webhook, **listed})


def test_the_objects_hooks_then_the_policys_with_their_secrets_namespaces() -> None:
    found = targets_for(
        "ml",
        "fraud",
        [hook("team", urlFrom={"secretKeyRef": {"name": "hooks", "key": "url"}}, format="slack")],
        "production",
        [hook("platform", url="http://alerts.example/hook")],
        "modeldeploy-system",
    )
    assert found == [
        Target("ModelDeployment ml/fraud", "team", None, SecretKey("ml", "hooks", "url"), "slack"),
        Target("ClusterRolloutPolicy production", "platform", "http://alerts.example/hook", None,
               "generic"),
    ]  # fmt: skip


def test_a_rollback_names_the_failing_check() -> None:
    message = build_message("RolledBack", "rolled back", "ml", "fraud", ROLLED_BACK, "T")
    assert message is not None
    assert (message["kind"], message["revision"], message["version"]) == ("rolled-back", "r3", "v3")
    assert message["checks"] == [
        {"name": "error-rate", "verdict": "Fail", "value": 0.5, "bound": "max 0.05",
         "message": "0.500 > max 0.05"}
    ]  # fmt: skip
    assert message["policy"] == {"name": "production", "generation": 2}
    text = slack_message(message)["text"]
    assert "ml/fraud: rolled back" in text and "error-rate: 0.500 > max 0.05" in text


@pytest.mark.parametrize(
    ("reason", "kind"),
    [("RolloutStarted", "rollout-started"), ("StepAdvanced", "step-passed"), ("Paused", "paused"),
     ("AwaitingApproval", "awaiting-approval"), ("Promoted", "promoted"),
     ("RolledBack", "rolled-back"), ("PolicyViolation", "policy-violation")],
)  # fmt: skip
def test_each_notified_decision_has_its_kind(reason: str, kind: str) -> None:
    message = build_message(reason, "m", "ml", "fraud", EMPTY, "T")
    assert message is not None and message["kind"] == kind


def test_other_events_are_not_notified() -> None:
    assert build_message("StepReached", "m", "ml", "fraud", EMPTY, "T") is None


def test_the_payload_follows_the_targets_format() -> None:
    message = build_message("Promoted", "v2 promoted", "ml", "fraud", EMPTY, "T")
    assert message is not None
    generic = Target("o", "n", "http://x", None, "generic")
    slack = Target("o", "n", "http://x", None, "slack")
    teams = Target("o", "n", "http://x", None, "teams")
    assert payload(generic, message) is message
    assert set(payload(slack, message)) == {"text"}
    assert payload(teams, message) == teams_message(message)


# --- which webhooks are told ------------------------------------------------------------------


def test_a_webhook_is_told_only_of_the_events_it_lists() -> None:
    found = targets_for(
        "ml",
        "fraud",
        [hook("oncall", url="http://pager.example/hook", events=["RolledBack", "PolicyViolation"]),
         hook("team", url="http://chat.example/hook", format="teams")],
        "production",
        [hook("audit", url="http://audit.example/hook", events=["Promoted"])],
        "modeldeploy-system",
    )  # fmt: skip
    told = {reason: [t.name for t in recipients(found, reason)] for reason in NOTIFIED_EVENTS}
    assert told == {
        "RolloutStarted": ["team"],
        "StepAdvanced": ["team"],
        "Paused": ["team"],
        "AwaitingApproval": ["team"],
        "Promoted": ["team", "audit"],
        "RolledBack": ["oncall", "team"],
        "PolicyViolation": ["oncall", "team"],
    }
    assert found[0].events == frozenset({"RolledBack", "PolicyViolation"})
    assert found[1].events is None, "no list: every event"


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        ([], "at least 1 item"),
        (["RolledBack", "RolledBack"], "each event is listed once"),
        (["StepReached"], "RolledBack"),
    ],
)
def test_an_events_list_names_each_notified_event_at_most_once(
    events: list[str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        hook("team", url="http://x/hook", events=events)


def test_a_teams_webhook_can_list_its_events() -> None:
    team = hook("team", url="https://x.example/hook", format="teams", events=["Promoted"])
    assert team.webhook.format == "teams" and team.events == ["Promoted"]


# --- what each format says ------------------------------------------------------------------

FORMATS = ("generic", "slack", "teams")


def no_nulls(document: Any) -> bool:
    if isinstance(document, dict):
        return all(no_nulls(value) for value in document.values())
    if isinstance(document, list):
        return all(no_nulls(item) for item in document)
    return document is not None


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == TEAMS_CARD == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    return card


def facts_of(card: dict[str, Any]) -> dict[str, str]:
    return {
        fact["title"]: fact["value"]
        for block in card["body"]
        if block["type"] == "FactSet"
        for fact in block["facts"]
    }


@pytest.mark.parametrize("reason", list(NOTIFIED_EVENTS))
@pytest.mark.parametrize("status", [EMPTY, ROLLED_BACK], ids=["empty", "rolled-back"])
@pytest.mark.parametrize("format_", FORMATS)
def test_every_notified_event_in_every_format(
    reason: str, status: ModelDeploymentStatus, format_: str
) -> None:
    message = build_message(reason, "what happened", "ml", "fraud", status, "2026-01-01T12:00:00Z")
    assert message is not None
    body = payload(Target("o", "n", "http://x", None, format_), message)
    assert json.loads(json.dumps(body)) == body, "JSON as it is sent"
    title = f"ml/fraud: {NOTIFIED_EVENTS[reason].replace('-', ' ')}"
    if format_ == "generic":
        assert body["kind"] == NOTIFIED_EVENTS[reason] and body["message"] == "what happened"
    elif format_ == "slack":
        assert title in body["text"] and "what happened" in body["text"]
    else:
        card = card_of(body)
        assert no_nulls(body), "Adaptive Card properties are never null"
        assert [b["text"] for b in card["body"][:2]] == [title, "what happened"]
        assert card["body"][0]["weight"] == "Bolder"
        assert all(b["wrap"] for b in card["body"] if b["type"] == "TextBlock")
        assert facts_of(card)["At"] == "2026-01-01T12:00:00Z"


def test_a_teams_card_of_a_rollback_names_revision_policy_and_failing_check() -> None:
    message = build_message("RolledBack", "rolled back", "ml", "fraud", ROLLED_BACK, "T")
    assert message is not None
    card = card_of(teams_message(message))
    assert card["body"][0]["color"] == "Attention"
    assert facts_of(card) == {
        "Revision": "r3 (v3)",
        "Phase": "RolledBack",
        "Weight": "0%",
        "Stable": "v1",
        "Policy": "production (generation 2)",
        "At": "T",
        "error-rate": "0.500 > max 0.05",
    }
    assert {"type": "TextBlock", "text": "Checks", "weight": "Bolder", "wrap": True} in card["body"]


@pytest.mark.parametrize(
    ("reason", "color"),
    [("Promoted", "Good"), ("Paused", "Warning"), ("AwaitingApproval", "Warning"),
     ("RolledBack", "Attention"), ("PolicyViolation", "Attention"),
     ("RolloutStarted", "Default"), ("StepAdvanced", "Default")],
)  # fmt: skip
def test_a_teams_cards_title_is_coloured_by_what_happened(reason: str, color: str) -> None:
    message = build_message(reason, "m", "ml", "fraud", EMPTY, "T")
    assert message is not None
    assert card_of(teams_message(message))["body"][0]["color"] == color


def test_a_teams_card_without_anything_to_say_of_the_rollout_has_only_the_time() -> None:
    message = build_message("Paused", "paused", "ml", "fraud", EMPTY, "T")
    assert message is not None
    card = card_of(teams_message(message))
    assert facts_of(card) == {"At": "T"}
    assert len(card["body"]) == 3, "no Checks section without failing checks"


checks = st.lists(
    st.builds(
        CheckStatus,
        name=st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
        verdict=st.sampled_from(["Pass", "Fail", "Inconclusive", "Error"]),
        value=st.none() | st.floats(-1e6, 1e6),
        bound=st.none() | st.just("max 0.05"),
        message=st.none() | st.text(min_size=1, max_size=40),
    ),
    max_size=6,
    unique_by=lambda c: c.name,
)


@given(
    reason=st.sampled_from(list(NOTIFIED_EVENTS)),
    checks=checks,
    phase=st.none() | st.sampled_from(["Canary", "RolledBack", "Paused"]),
    weight=st.none() | st.integers(0, 100),
)
def test_every_format_names_every_check_that_did_not_pass(
    reason: str, checks: list[CheckStatus], phase: str | None, weight: int | None
) -> None:
    status = ModelDeploymentStatus(phase=phase, weight=weight, checks=checks or None)
    message = build_message(reason, "m", "ml", "fraud", status, "T")
    assert message is not None
    failing = [c for c in checks if c.verdict != "Pass"]
    assert [c["name"] for c in message.get("checks", [])] == [c.name for c in failing]
    text = slack_message(message)["text"]
    card = teams_message(message)
    assert no_nulls(card)
    facts = facts_of(card_of(card))
    for check in failing:
        said = check.message or check.verdict
        assert f"• {check.name}: {said}" in text
        assert facts[check.name] == said
    assert ("Weight" in facts) == (weight is not None)
    assert ("Phase" in facts) == (phase is not None)


class Receiver:
    """A webhook receiver on loopback that answers with the statuses it is told to."""

    def __init__(self, statuses: list[int], delay_s: float = 0.0) -> None:
        self.statuses = statuses
        self.delay_s = delay_s
        self.bodies: list[Any] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.bodies.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status < 300:
                    receiver.arrived.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


# The receivers here listen on this machine, which only an explicit allowance reaches.
LOCAL = TargetRules.parse(False, "127.0.0.1/32")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(notify, "BACKOFF_S", 0.05)
    yield


def test_a_failing_receiver_gets_the_message_again(fast_retries: None) -> None:
    receiver = Receiver([503, 500])
    notifier = Notifier(lambda *_: None, targets=LOCAL)
    message = build_message("Promoted", "v2 promoted", "ml", "fraud", EMPTY, "T")
    assert message is not None
    notifier.submit([Target("o", "n", receiver.url, None, "generic")], message)
    assert receiver.arrived.wait(10)
    assert [status for status, _ in receiver.bodies] == [503, 500, 200]
    assert receiver.bodies[-1][1]["kind"] == "promoted"
    notifier.stop()


def test_a_teams_webhook_receives_the_card(fast_retries: None) -> None:
    receiver = Receiver([])
    notifier = Notifier(lambda *_: None, targets=LOCAL)
    message = build_message("RolledBack", "rolled back", "ml", "fraud", ROLLED_BACK, "T")
    assert message is not None
    notifier.submit([Target("o", "n", receiver.url, None, "teams")], message)
    assert receiver.arrived.wait(10)
    assert card_of(receiver.bodies[0][1])["body"][1]["text"] == "rolled back"
    notifier.stop()


def test_a_url_from_a_secret_is_read_when_sending(fast_retries: None) -> None:
    receiver = Receiver([])
    asked: list[tuple[str, str, str]] = []

    def read_secret(namespace: str, name: str, key: str) -> str:
        asked.append((namespace, name, key))
        return receiver.url

    notifier = Notifier(read_secret, targets=LOCAL)
    message = build_message("Paused", "paused", "ml", "fraud", EMPTY, "T")
    assert message is not None
    notifier.submit([Target("o", "n", None, SecretKey("ml", "hooks", "url"), "slack")], message)
    assert receiver.arrived.wait(10)
    assert asked == [("ml", "hooks", "url")]
    assert set(receiver.bodies[0][1]) == {"text"}
    notifier.stop()


def test_submitting_never_waits_for_a_slow_receiver() -> None:
    receiver = Receiver([], delay_s=2.0)
    notifier = Notifier(lambda *_: None, workers=1, targets=LOCAL)
    message = build_message("StepAdvanced", "step 1 passed", "ml", "fraud", EMPTY, "T")
    assert message is not None
    began = time.monotonic()
    for _ in range(20):
        notifier.submit([Target("o", "n", receiver.url, None, "generic")], message)
    # Blocking on even one delivery would take the receiver's 2 s.
    assert time.monotonic() - began < 1.5
    notifier.stop()


class Collecting:
    """A notifier that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str]] = []

    def submit(self, targets: list[Target], message: dict[str, Any]) -> None:
        self.sent.append(([t.name for t in targets], message["kind"]))


def test_the_record_step_tells_each_webhook_only_the_events_it_lists() -> None:
    collecting = Collecting()
    recorder = Recorder(
        None,  # type: ignore[arg-type]
        ModelDeploymentStore(),
        ChildStore(),
        collecting,  # type: ignore[arg-type]
        "modeldeploy-system",
    )
    model_spec = parse_spec(
        {
            "model": {"name": "fraud", "version": "v3", "uri": "s3://m/f", "format": "sklearn"},
            "notifications": [
                {"name": "oncall", "webhook": {"url": "http://pager/h"}, "events": ["RolledBack"]},
                {"name": "team", "webhook": {"url": "http://chat/h", "format": "teams"}},
            ],
        }
    )
    events = [
        Event("Normal", "StepAdvanced", "step 1 passed"),
        Event("Normal", "StepReached", "not notified"),
        Event("Warning", "RolledBack", "rolled back"),
    ]
    recorder.notify("ml", "fraud", model_spec, None, events, ROLLED_BACK, datetime.now(UTC))
    assert collecting.sent == [(["team"], "step-passed"), (["oncall", "team"], "rolled-back")]
