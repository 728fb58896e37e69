"""Where notifications may go: refused at apply by what the URL says, and again at send time by
what its host resolves to, connecting only to an address that was checked."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modeldeploy.api.webhook_targets import STRICT, TargetRules, url_problem
from modeldeploy.shell.admission import judge
from modeldeploy.shell.notify import sender
from modeldeploy.shell.notify.message import Target, build_message
from modeldeploy.shell.notify.sender import Notifier, Refused, checked_address
from modeldeploy.validation import InvalidSpec, load_spec

PRIVATE = TargetRules(allow_private=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://127.1/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),
        ("http://0x7f000001/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://localhost/hook", "this machine"),
        ("http://api.localhost/hook", "this machine"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata service"),
        ("http://0.0.0.0/hook", "no address to send to"),
        ("http://[::]/hook", "no address to send to"),
        ("http://10.0.0.7/hook", "private address"),
        ("http://172.16.3.4/hook", "private address"),
        ("http://192.168.1.1/hook", "private address"),
        ("http://[fd00::1]/hook", "private address"),
        ("http://100.64.0.1/hook", "private address"),
        ("http://alertmanager.monitoring.svc:9093/hook", "in-cluster name"),
        ("http://alertmanager.monitoring.svc.cluster.local/hook", "in-cluster name"),
        ("http://alertmanager/hook", "in-cluster name"),
        ("ftp://hooks.example.com/hook", "only http and https"),
        ("http://user:pass@hooks.example.com/hook", "credentials belong in a Secret"),
    ],
)
def test_a_url_is_refused_by_what_it_says(url: str, why: str) -> None:
    problem = url_problem(url, STRICT)
    assert problem is not None and why in problem


def test_public_hosts_are_taken() -> None:
    assert url_problem("https://hooks.slack.com/services/T/B/X", STRICT) is None
    assert url_problem("http://93.184.216.34/hook", STRICT) is None


def test_private_targets_only_where_allowed_and_never_loopback_or_link_local() -> None:
    assert url_problem("http://alertmanager.monitoring.svc:9093/hook", PRIVATE) is None
    assert url_problem("http://10.0.0.7/hook", PRIVATE) is None
    assert url_problem("http://127.0.0.1/hook", PRIVATE) is not None
    assert url_problem("http://169.254.169.254/", PRIVATE) is not None


def test_an_allow_list_names_hosts_and_ranges() -> None:
    rules = TargetRules.parse(False, "alertmanager.monitoring.svc, .hooks.internal, 10.8.0.0/16")
    assert url_problem("http://alertmanager.monitoring.svc/hook", rules) is None
    assert url_problem("http://a.hooks.internal/hook", rules) is None
    assert url_problem("http://10.8.1.2/hook", rules) is None
    assert url_problem("http://10.9.1.2/hook", rules) is not None
    assert url_problem("http://other.monitoring.svc/hook", rules) is not None
    with pytest.raises(ValueError, match="no host or CIDR"):
        TargetRules.parse(False, "10.0.0.0/99")


def test_the_service_cidr_counts_as_in_cluster() -> None:
    rules = TargetRules.parse(False, "", "34.118.224.0/20")
    assert "private address" in (url_problem("http://34.118.230.9/", rules) or "")
    assert url_problem("http://34.118.230.9/", STRICT) is None


MODEL = {"name": "iris", "version": "v1", "uri": "s3://models/iris", "format": "sklearn"}


def spec_with(url: str) -> dict[str, Any]:
    return {"model": MODEL, "notifications": [{"name": "team", "webhook": {"url": url}}]}


def test_a_url_from_a_secret_is_refused_where_the_operator_reads_no_secrets() -> None:
    from_secret = {
        "model": MODEL,
        "notifications": [
            {"name": "team", "webhook": {"urlFrom": {"secretKeyRef": {"name": "h", "key": "u"}}}}
        ],
    }
    load_spec(from_secret)
    with pytest.raises(InvalidSpec) as refused:
        load_spec(from_secret, targets=dataclasses.replace(STRICT, from_secrets=False))
    assert "spec.notifications[0].webhook.urlFrom (team): this installation" in str(refused.value)
    assert "notifications.fromSecrets=false" in str(refused.value)
    # A URL given in the spec needs no Secret.
    load_spec(
        spec_with("https://hooks.example.com/x"),
        targets=dataclasses.replace(STRICT, from_secrets=False),
    )


def test_validation_and_admission_refuse_alike() -> None:
    with pytest.raises(InvalidSpec) as refused:
        load_spec(spec_with("http://169.254.169.254/latest"))
    assert "spec.notifications[0].webhook.url (team): host 169.254.169.254 is link-local" in str(
        refused.value
    )
    load_spec(spec_with("http://alertmanager.monitoring.svc/hook"), targets=PRIVATE)
    obj = {"metadata": {"name": "iris", "namespace": "ml"}, "spec": spec_with("http://10.1.1.1/")}
    verdict = judge("ModelDeployment", "CREATE", obj, None, lambda: [], lambda _: {})
    assert verdict.refusal is not None and "private address" in verdict.refusal
    allowed = judge(
        "ModelDeployment", "CREATE", obj, None, lambda: [], lambda _: {}, targets=PRIVATE
    )
    assert allowed.refusal is None


def test_a_policy_s_webhook_is_judged_at_apply_too() -> None:
    policy = {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ClusterRolloutPolicy",
        "metadata": {"name": "prod"},
        "spec": {"notifications": [{"name": "p", "webhook": {"url": "http://127.0.0.1/"}}]},
    }
    verdict = judge("ClusterRolloutPolicy", "CREATE", policy, None, lambda: [], lambda _: {})
    assert verdict.refusal == (
        "policy prod: spec.notifications[0].webhook.url (p): host 127.0.0.1 is a loopback address"
    )


# --- at send time -------------------------------------------------------------------------


def resolving_to(*addresses: str) -> sender.Resolver:
    def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


def test_every_resolved_address_is_checked() -> None:
    url = "https://hooks.example.com/hook"
    assert str(checked_address(url, STRICT, resolving_to("93.184.216.34"))) == "93.184.216.34"
    with pytest.raises(Refused, match=r"host hooks\.example\.com resolves to 169\.254\.169\.254"):
        checked_address(url, STRICT, resolving_to("93.184.216.34", "169.254.169.254"))
    with pytest.raises(Refused, match=r"resolves to 10\.0\.0\.1 is a private address"):
        checked_address(url, STRICT, resolving_to("10.0.0.1"))
    assert str(checked_address(url, PRIVATE, resolving_to("10.0.0.1"))) == "10.0.0.1"
    with pytest.raises(Refused, match="does not resolve"):
        checked_address(url, STRICT, resolving_to())


class Receiver:
    """A webhook receiver on this machine, answering each POST with the next status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.hosts: list[str] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def message() -> dict[str, Any]:
    built = build_message("Promoted", "v2 promoted", "ml", "fraud", sender_status(), "T")
    assert built is not None
    return built


def sender_status() -> Any:
    from modeldeploy.api.status import ModelDeploymentStatus

    return ModelDeploymentStatus()


def send(notifier: Notifier, url: str) -> None:
    notifier._deliver(sender._Delivery(Target("o", "n", url, None, "generic"), message()))


def test_a_receiver_on_this_machine_is_refused_unless_allowed(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # The name resolves to the loopback address: judged by the address, not the name.
    url = f"http://hooks.example.com:{receiver.port}/hook?token=s3cret"
    refusing = Notifier(lambda *_: None, workers=0, resolver=resolving_to("127.0.0.1"))
    send(refusing, url)
    assert receiver.hosts == []
    assert "host hooks.example.com resolves to 127.0.0.1 is a loopback address" in caplog.text
    assert "s3cret" not in caplog.text and "/hook" not in caplog.text

    allowing = Notifier(
        lambda *_: None,
        workers=0,
        targets=TargetRules.parse(False, "127.0.0.0/8"),
        resolver=resolving_to("127.0.0.1"),
    )
    send(allowing, url)
    # Sent to the address checked, under the URL's own host name.
    assert receiver.hosts == [f"hooks.example.com:{receiver.port}"]


def test_the_answer_checked_is_the_address_connected_to(receiver: Receiver) -> None:
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    notifier = Notifier(
        lambda *_: None,
        workers=0,
        targets=TargetRules.parse(False, "127.0.0.0/8"),
        resolver=rebinding,
    )
    send(notifier, f"http://hooks.example.com:{receiver.port}/hook")
    # One resolution, one connection to what it gave: no second answer was asked for.
    assert receiver.hosts == [f"hooks.example.com:{receiver.port}"]
    assert next(answers) == ["169.254.169.254"]


def test_a_redirect_is_not_followed(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.statuses = [302]
    notifier = Notifier(
        lambda *_: None, workers=0, targets=TargetRules.parse(False, "127.0.0.1/32")
    )
    send(notifier, f"http://127.0.0.1:{receiver.port}/hook")
    assert len(receiver.hosts) == 1  # not tried again, not followed
    assert "host 127.0.0.1 answered HTTP 302" in caplog.text
    assert "169.254" not in caplog.text


def test_a_secret_s_url_is_judged_at_send_time(caplog: pytest.LogCaptureFixture) -> None:
    from modeldeploy.shell.notify.message import SecretKey

    notifier = Notifier(lambda *_: "http://169.254.169.254/latest?key=abc", workers=0)
    target = Target("o", "n", None, SecretKey("ml", "hooks", "url"), "generic")
    notifier._deliver(sender._Delivery(target, message()))
    assert "host 169.254.169.254: host 169.254.169.254 is link-local" in caplog.text
    assert "key=abc" not in caplog.text and "latest" not in caplog.text
