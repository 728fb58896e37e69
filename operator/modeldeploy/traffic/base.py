"""What a router is: how a weight becomes traffic.

Each router owns its traffic model. The pure half says how many pods each track runs at a
weight, which revisions the client Service sends to, and what share the canary really gets; the
state machine asks it and never checks which router it is. The other half sets and reads the
weight on a route object, for the routers that have one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RouteTarget:
    namespace: str
    name: str  # the ModelDeployment
    route: str | None = None  # the HTTPRoute, for the gateway-api router


class RouterError(Exception):
    """The route cannot carry the split (missing, or no rule names our Services)."""


class RouteStore(Protocol):
    def get_httproute(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def replace_httproute_rules(
        self, namespace: str, name: str, rules: list[dict[str, Any]], resource_version: str
    ) -> None: ...


class Router(Protocol):
    def track_replicas(
        self, replicas: int, weight: int, routed: int | None = None
    ) -> tuple[int, int]:
        """(stable, canary) pods of a total of `replicas` at `weight` percent to the canary,
        never none for a track that serves. `routed`: the weight clients get now, when the
        canary has not reached `weight` yet; a router that splits requests keeps the stable
        sized for it until the traffic has moved."""
        ...

    def client_revisions(
        self, stable: str, canary: str | None, weight: int, filling: str | None = None
    ) -> list[str]:
        """The revisions whose pods the client Service sends to. `filling`: the revision that
        served before a promotion or an undo, still up while the new stable fills up."""
        ...

    def effective_weight(
        self, weight: int, stable_ready: int, canary_ready: int, route_weight: int | None
    ) -> int:
        """Percent of client traffic the canary actually gets."""
        ...

    def honoured_weight(self, replicas: int, weight: int) -> int:
        """Percent of client traffic the canary gets at `weight` once every pod is Ready: the
        weight itself where the router splits requests, the nearest share of pods where it
        splits pods."""
        ...

    def set_weight(self, target: RouteTarget, weight: int) -> None: ...

    def read_weight(self, target: RouteTarget) -> int | None: ...

    def hostnames(self, target: RouteTarget) -> list[str]:
        """The hostnames the router's route object answers for, through its Gateway; none for
        a router without one, or a route that lists none."""
        ...
