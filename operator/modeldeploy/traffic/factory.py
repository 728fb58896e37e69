"""The one place that chooses a router by the spec's `traffic.router`."""

from __future__ import annotations

from modeldeploy.api.spec import RouterKind, TrafficSpec
from modeldeploy.traffic.base import Router, RouteStore, RouteTarget
from modeldeploy.traffic.gateway_api import GatewayRouter
from modeldeploy.traffic.replicas import ReplicasRouter


def router_for(traffic: TrafficSpec | None, store: RouteStore | None = None) -> Router:
    """The router of a spec's traffic section (replicas when it has none). `store` is needed
    only to set or read a route's weights, never for the pure traffic model."""
    if traffic is not None and traffic.router is RouterKind.GATEWAY_API:
        return GatewayRouter(store)
    return ReplicasRouter()


def route_target(namespace: str, name: str, traffic: TrafficSpec | None) -> RouteTarget:
    route = traffic.http_route.name if traffic is not None and traffic.http_route else None
    return RouteTarget(namespace, name, route)
