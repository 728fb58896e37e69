import random
from collections import Counter
from typing import Any

import pytest

from e2e.localcluster.traffic import (
    Endpoint,
    TrafficDriver,
    WeightedBackend,
    encode_body,
    is_loopback,
    pick_weighted,
    ready_endpoints,
    route_backends,
    service_port_name,
)

SERVICE = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}]}}


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


ROUTE = {
    "spec": {
        "rules": [
            {
                "matches": [{"path": {"type": "Exact", "value": "/admin"}}],
                "backendRefs": [{"name": "admin", "port": 80}],
            },
            {
                "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
                "backendRefs": [
                    {"name": "stable", "port": 80, "weight": 90},
                    {"name": "canary", "port": 80, "weight": 10},
                ],
            },
        ]
    }
}


def test_route_rule_matching() -> None:
    assert [b.service for b in route_backends(ROUTE, "/admin")] == ["admin"]
    assert [b.service for b in route_backends(ROUTE, "/v2/models/m/infer")] == ["stable", "canary"]
    assert route_backends(ROUTE, "/v20") == []
    assert route_backends(ROUTE, "/other") == []


def test_weighted_choice_follows_weights() -> None:
    backends = [WeightedBackend("stable", 80, 90), WeightedBackend("canary", 80, 10)]
    rng = random.Random(1)
    counts = Counter(pick_weighted(backends, rng).service for _ in range(5000))  # type: ignore[union-attr]
    assert 0.07 < counts["canary"] / 5000 < 0.13
    assert pick_weighted([WeightedBackend("x", 80, 0)], rng) is None
    only = pick_weighted([WeightedBackend("x", 80, 0), WeightedBackend("y", 80, 5)], rng)
    assert only is not None and only.service == "y"


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
