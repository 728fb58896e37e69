import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.localcluster.traffic import (
    Endpoint,
    RequestRecord,
    TrafficDriver,
    describe_failures,
    encode_body,
    is_cluster_address,
    is_loopback,
    netloc,
    ready_endpoints,
    route_hostname,
    served_by,
    service_address,
    service_port_name,
    shares,
)

SERVICE = {
    "metadata": {"name": "web"},
    "spec": {"clusterIP": "10.0.12.7", "ports": [{"name": "http", "port": 80}]},
}


def test_service_port_by_number_name_or_default() -> None:
    assert service_port_name(SERVICE, None) == "http"
    assert service_port_name(SERVICE, 80) == "http"
    assert service_port_name(SERVICE, "http") == "http"
    with pytest.raises(LookupError):
        service_port_name(SERVICE, 81)


def test_only_ready_endpoints_of_the_port() -> None:
    slices: list[dict[str, Any]] = [
        {
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {
                    "addresses": ["127.10.0.1"],
                    "conditions": {"ready": True},
                    "targetRef": {"name": "a"},
                },
                {
                    "addresses": ["127.10.0.2"],
                    "conditions": {"ready": False},
                    "targetRef": {"name": "b"},
                },
                {"addresses": ["127.10.0.3"], "conditions": {}, "targetRef": {"name": "c"}},
            ],
        },
        {"ports": [{"name": "other", "port": 9090}], "endpoints": [{"addresses": ["127.10.0.9"]}]},
    ]
    assert ready_endpoints(slices, "http") == [
        Endpoint("127.10.0.1", 8080, "a"),
        Endpoint("127.10.0.3", 8080, "c"),
    ]


def test_service_address_is_its_cluster_ip_and_port() -> None:
    assert service_address(SERVICE, None) == ("10.0.12.7", 80)
    assert service_address(SERVICE, "http") == ("10.0.12.7", 80)
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
    with pytest.raises(LookupError):
        service_address(headless, None)
    with pytest.raises(LookupError):
        service_address(SERVICE, 8080)


def test_route_hostname() -> None:
    assert route_hostname({"spec": {"hostnames": ["a.test", "b.test"]}}) == "a.test"
    assert route_hostname({"spec": {}}) is None


def test_answers_name_revision_and_pod() -> None:
    assert served_by({"modeldeploy-revision": "r1", "modeldeploy-pod": "m-r1-x"}) == (
        "r1",
        "m-r1-x",
    )
    assert served_by({}) == (None, None)


def test_shares_count_only_answers_that_named_a_revision() -> None:
    def record(backend: str | None) -> RequestRecord:
        return RequestRecord(0, 0.0, backend, None, None, 200 if backend else None, 0.0)

    assert shares([record("a"), record("a"), record("b"), record(None)]) == {
        "a": 2 / 3,
        "b": 1 / 3,
    }
    assert shares([record(None)]) == {}


def test_cluster_addresses_are_the_pod_and_service_ranges() -> None:
    assert is_cluster_address("10.244.0.17") and is_cluster_address("10.0.200.1")
    assert not is_cluster_address("10.1.0.1") and not is_cluster_address("192.168.1.1")
    assert not is_cluster_address("127.0.0.1") and not is_cluster_address("example.com")
    assert netloc("10.0.0.1", 80) == "10.0.0.1:80" and netloc("::1", 80) == "[::1]:80"


def test_loopback_only() -> None:
    assert is_loopback("127.10.0.1") and is_loopback("::1")
    assert not is_loopback("10.0.0.1") and not is_loopback("not-an-ip")


def test_body_encoding() -> None:
    assert encode_body(None) == (None, {})
    assert encode_body("x") == (b"x", {})
    assert encode_body({"a": 1}) == (b'{"a": 1}', {"Content-Type": "application/json"})


def test_traffic_must_be_bounded_and_targeted() -> None:
    with pytest.raises(ValueError):
        TrafficDriver(None, "default", service="web", duration_s=None, max_requests=None)
    with pytest.raises(ValueError):
        TrafficDriver(None, "default")
    with pytest.raises(ValueError):
        TrafficDriver(None, "default", service="a", http_route="b")
    with pytest.raises(ValueError):
        TrafficDriver(None, "default", service="a", gateway=("127.0.0.1", 80))
    with pytest.raises(ValueError):
        TrafficDriver(None, "default", gateway=("127.0.0.1", 80), connections="sticky")  # type: ignore[arg-type]


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers like a serving pod behind a gateway: its revision and pod in the headers."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; Nagle would hold the second for an ACK.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = (self.headers.get("Host") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("modeldeploy-revision", "rev-1")
        self.send_header("modeldeploy-pod", f"pod-{self.client_address[1]}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_gateway() -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("connections", "most"), [("pooled", 2), ("fresh", 40)])
def test_a_gateway_gets_the_host_and_answers_name_what_served(
    loopback_gateway: tuple[str, int], connections: str, most: int
) -> None:
    driver = TrafficDriver(
        None,
        "default",
        gateway=loopback_gateway,
        host="model.ns.test",
        connections=connections,  # type: ignore[arg-type]
        rate_per_s=400,
        max_requests=40,
        concurrency=2,
    )
    with driver:
        records = driver.wait(20)
    assert len(records) == 40 and all(r.status == 200 for r in records), driver.summary()
    assert {r.body for r in records} == {"model.ns.test"}
    assert driver.summary() == {"rev-1": {"200": 40}}
    # The pod header here is the client's port: one per connection.
    assert 1 <= len({r.pod for r in records}) <= most
    if connections == "fresh":
        assert len({r.pod for r in records}) == 40


def test_only_loopback_without_the_cluster_namespace() -> None:
    driver = TrafficDriver(
        None, "default", gateway=("10.0.0.5", 80), max_requests=3, rate_per_s=100
    )
    with driver:
        records = driver.wait(10)
    assert len(records) == 3
    assert all(r.status is None and "refusing" in (r.error or "") for r in records)


def test_failures_are_described_in_runs_with_their_reasons() -> None:
    def record(i: int, at: float, ok: bool, pod: str | None = None) -> RequestRecord:
        status, error = (200, None) if ok else (None, "ConnectionError: refused")
        return RequestRecord(i, at, "r1" if ok else None, pod, "10.96.0.9:80", status, 0.01, error)

    records = [
        record(0, 100.0, True),
        record(1, 101.0, False),
        record(2, 101.5, False),
        record(3, 102.0, True),
        record(4, 103.0, False),
    ]
    lines = describe_failures(records).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("1.00-1.50s 2 failed via 10.96.0.9:80: 2x pod=None")
    assert "ConnectionError: refused" in lines[0]
    assert lines[1].startswith("3.00-3.00s 1 failed")
    assert describe_failures(records[:1]) == "none failed"
    assert describe_failures([]) == "no requests"
