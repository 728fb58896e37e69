"""Notifications: whom they go to, what they say, and that a bad receiver delays nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modeldeploy.api.spec import Notification
from modeldeploy.api.status import ModelDeploymentStatus, parse_status
from modeldeploy.shell.notify import sender as notify
from modeldeploy.shell.notify.message import (
    SecretKey,
    Target,
    build_message,
    payload,
    slack_message,
    targets_for,
)
from modeldeploy.shell.notify.sender import Notifier

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


def hook(name: str, **webhook: Any) -> Notification:
    return Notification.model_validate({"name": name, "webhook": webhook})


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
     ("Promoted", "promoted"), ("RolledBack", "rolled-back"),
     ("PolicyViolation", "policy-violation")],
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
    assert payload(generic, message) is message
    assert set(payload(slack, message)) == {"text"}


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


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(notify, "BACKOFF_S", 0.05)
    yield


def test_a_failing_receiver_gets_the_message_again(fast_retries: None) -> None:
    receiver = Receiver([503, 500])
    notifier = Notifier(lambda *_: None)
    message = build_message("Promoted", "v2 promoted", "ml", "fraud", EMPTY, "T")
    assert message is not None
    notifier.submit([Target("o", "n", receiver.url, None, "generic")], message)
    assert receiver.arrived.wait(10)
    assert [status for status, _ in receiver.bodies] == [503, 500, 200]
    assert receiver.bodies[-1][1]["kind"] == "promoted"
    notifier.stop()


def test_a_url_from_a_secret_is_read_when_sending(fast_retries: None) -> None:
    receiver = Receiver([])
    asked: list[tuple[str, str, str]] = []

    def read_secret(namespace: str, name: str, key: str) -> str:
        asked.append((namespace, name, key))
        return receiver.url

    notifier = Notifier(read_secret)
    message = build_message("Paused", "paused", "ml", "fraud", EMPTY, "T")
    assert message is not None
    notifier.submit([Target("o", "n", None, SecretKey("ml", "hooks", "url"), "slack")], message)
    assert receiver.arrived.wait(10)
    assert asked == [("ml", "hooks", "url")]
    assert set(receiver.bodies[0][1]) == {"text"}
    notifier.stop()


def test_submitting_never_waits_for_a_slow_receiver() -> None:
    receiver = Receiver([], delay_s=2.0)
    notifier = Notifier(lambda *_: None, workers=1)
    message = build_message("StepAdvanced", "step 1 passed", "ml", "fraud", EMPTY, "T")
    assert message is not None
    began = time.monotonic()
    for _ in range(20):
        notifier.submit([Target("o", "n", receiver.url, None, "generic")], message)
    # Blocking on even one delivery would take the receiver's 2 s.
    assert time.monotonic() - began < 1.5
    notifier.stop()
