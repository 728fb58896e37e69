from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.traffic.base import RouterError, RouteTarget
from modeldeploy.traffic.gateway_api import GatewayRouter, canary_weight_of, weighted_rules
from modeldeploy.traffic.replicas import ReplicasRouter, effective_weight, split_replicas


@given(st.integers(1, 50), st.integers(0, 100))
def test_split_keeps_the_total_and_gives_weight_a_pod(total: int, weight: int) -> None:
    stable, canary = split_replicas(total, weight)
    if weight == 0:
        assert (stable, canary) == (total, 0)
    elif weight == 100:
        assert (stable, canary) == (0, total)
    elif total >= 2:
        assert stable + canary == total
        assert stable >= 1 and canary >= 1
        assert abs(canary - total * weight / 100) <= max(1.0, total * weight / 100)
    else:
        assert (stable, canary) == (1, 1)


@given(st.integers(2, 50), st.integers(1, 98))
def test_split_is_monotonic_in_weight(total: int, weight: int) -> None:
    assert split_replicas(total, weight)[1] <= split_replicas(total, weight + 1)[1]


@pytest.mark.parametrize(
    ("stable", "canary", "expected"), [(0, 0, 0), (3, 1, 25), (1, 1, 50), (0, 2, 100), (2, 1, 33)]
)
def test_effective_weight(stable: int, canary: int, expected: int) -> None:
    assert effective_weight(stable, canary) == expected


def route_rules() -> list[dict[str, Any]]:
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/other"}}],
            "backendRefs": [{"name": "other", "port": 80}],
        },
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "filters": [{"type": "RequestHeaderModifier"}],
            "backendRefs": [{"name": "fraud-stable", "port": 80}],
        },
    ]


def test_weighted_rules_touch_only_our_rules() -> None:
    rules = route_rules()
    updated = weighted_rules(rules, "fraud", 25)
    assert updated[0] == rules[0]
    assert updated[1]["matches"] == rules[1]["matches"]
    assert updated[1]["filters"] == rules[1]["filters"]
    weights = {ref["name"]: ref["weight"] for ref in updated[1]["backendRefs"]}
    assert weights == {"fraud-stable": 75, "fraud-canary": 25}
    assert canary_weight_of(updated, "fraud") == 25
    assert rules[1]["backendRefs"] == [{"name": "fraud-stable", "port": 80}], "input untouched"


def test_route_without_our_services_is_an_error() -> None:
    with pytest.raises(RouterError, match="fraud-canary"):
        weighted_rules([{"backendRefs": [{"name": "x"}]}], "fraud", 10)
    assert canary_weight_of([{"backendRefs": [{"name": "x"}]}], "fraud") is None


@given(st.integers(0, 100))
def test_weight_round_trips_through_the_route(weight: int) -> None:
    assert canary_weight_of(weighted_rules(route_rules(), "fraud", weight), "fraud") == weight


class OneRoute:
    """A RouteStore holding one HTTPRoute."""

    def __init__(self, route: dict[str, Any] | None) -> None:
        self.route = route

    def get_httproute(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.route

    def replace_httproute_rules(
        self, namespace: str, name: str, rules: list[dict[str, Any]], resource_version: str
    ) -> None:
        raise AssertionError("reading hostnames writes nothing")


def route(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "fraud", "resourceVersion": "1"}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"hostnames": ["fraud.example.com", "fraud.internal"], "rules": route_rules()},
         ["fraud.example.com", "fraud.internal"]),
        ({"rules": route_rules()}, []),
    ],
)  # fmt: skip
def test_the_gateway_router_gives_the_routes_hostnames(
    spec: dict[str, Any], expected: list[str]
) -> None:
    target = RouteTarget("ml", "fraud", "fraud")
    assert GatewayRouter(OneRoute(route(**spec))).hostnames(target) == expected


def test_a_missing_route_has_no_hostnames_to_give() -> None:
    with pytest.raises(RouterError, match="not found"):
        GatewayRouter(OneRoute(None)).hostnames(RouteTarget("ml", "fraud", "fraud"))


def test_the_replicas_router_has_no_hostnames() -> None:
    assert ReplicasRouter().hostnames(RouteTarget("ml", "fraud")) == []
