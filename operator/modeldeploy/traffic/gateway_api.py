"""The gateway-api router: the weights of an HTTPRoute's backendRefs to `<name>-stable` and
`<name>-canary`. The route itself is the user's (it names their Gateway); only the weights are
ours."""

from __future__ import annotations

import copy
import logging
from typing import Any

from modeldeploy.api import names
from modeldeploy.traffic.base import RouterError, RouteStore, RouteTarget

log = logging.getLogger(__name__)


def weighted_rules(
    rules: list[dict[str, Any]], model_deployment: str, weight: int
) -> list[dict[str, Any]]:
    """The route's rules with our stable/canary backendRefs weighted; other rules untouched.

    A rule takes part when any of its backendRefs names our stable or canary Service; it then
    gets exactly those two, keeping whatever else the user wrote on the rule.
    """
    ours = {
        names.stable_service_name(model_deployment),
        names.canary_service_name(model_deployment),
    }
    updated = copy.deepcopy(rules)
    touched = False
    for rule in updated:
        refs = rule.get("backendRefs") or []
        if not any(ref.get("name") in ours for ref in refs):
            continue
        touched = True
        rule["backendRefs"] = [
            {
                "group": "",
                "kind": "Service",
                "name": names.stable_service_name(model_deployment),
                "port": names.SERVICE_PORT,
                "weight": 100 - weight,
            },
            {
                "group": "",
                "kind": "Service",
                "name": names.canary_service_name(model_deployment),
                "port": names.SERVICE_PORT,
                "weight": weight,
            },
        ]
    if not touched:
        raise RouterError(
            f"no rule of the HTTPRoute has a backendRef to {sorted(ours)[0]} or {sorted(ours)[1]}"
        )
    return updated


def pods_for_share(total: int, percent: int) -> int:
    """Pods enough for `percent` of the load `total` pods carry, rounded up: a track never
    gets more requests per pod than the total's average. None for no share."""
    if percent <= 0:
        return 0
    return max(1, -(-total * min(percent, 100) // 100))


def sized_for_shares(total: int, weight: int, routed: int | None = None) -> tuple[int, int]:
    """(stable, canary) pods when the route sends `weight` percent to the canary: each track
    sized for its share of the total, at least one pod while it has any. Until the canary
    holds `weight`, the stable keeps what its share of `routed` needs: its pods go only after
    its traffic has."""
    held = weight if routed is None else min(weight, routed)
    return pods_for_share(total, 100 - held), pods_for_share(total, weight)


def canary_weight_of(rules: list[dict[str, Any]], model_deployment: str) -> int | None:
    canary = names.canary_service_name(model_deployment)
    stable = names.stable_service_name(model_deployment)
    for rule in rules:
        refs = {ref.get("name"): int(ref.get("weight", 1)) for ref in rule.get("backendRefs") or []}
        if canary in refs or stable in refs:
            total = refs.get(canary, 0) + refs.get(stable, 0)
            return round(100 * refs.get(canary, 0) / total) if total else 0
    return None


class GatewayRouter:
    def __init__(self, store: RouteStore | None) -> None:
        self.store = store
        # One router serves one reconcile: the route read for the weight is the one the new
        # weight is written over (its resourceVersion guards against edits in between).
        self._read: dict[RouteTarget, dict[str, Any]] = {}

    def track_replicas(
        self, replicas: int, weight: int, routed: int | None = None
    ) -> tuple[int, int]:
        return sized_for_shares(replicas, weight, routed)

    def client_revisions(
        self, stable: str, canary: str | None, weight: int, filling: str | None = None
    ) -> list[str]:
        # Clients come through the route to the stable and canary Services; the plain
        # Service, for whoever calls it directly, sends to stable alone.
        return [stable]

    def effective_weight(
        self, weight: int, stable_ready: int, canary_ready: int, route_weight: int | None
    ) -> int:
        if route_weight is not None:
            return route_weight
        return weight if canary_ready else 0

    def _route(self, target: RouteTarget) -> dict[str, Any]:
        if target in self._read:
            return self._read[target]
        if target.route is None:
            raise RouterError("the gateway-api router needs httpRoute")
        if self.store is None:
            raise RouterError("no API client to read the HTTPRoute with")
        route = self.store.get_httproute(target.namespace, target.route)
        if route is None:
            raise RouterError(f"HTTPRoute {target.route} not found in {target.namespace}")
        self._read[target] = route
        return route

    def honoured_weight(self, replicas: int, weight: int) -> int:
        return weight

    def set_weight(self, target: RouteTarget, weight: int) -> None:
        route = self._route(target)
        rules = route["spec"].get("rules") or []
        updated = weighted_rules(rules, target.name, weight)
        if updated != rules and self.store is not None:
            log.info("HTTPRoute %s: canary weight %d%%", target.route, weight)
            self.store.replace_httproute_rules(
                target.namespace,
                route["metadata"]["name"],
                updated,
                route["metadata"]["resourceVersion"],
            )

    def read_weight(self, target: RouteTarget) -> int | None:
        route = self._route(target)
        return canary_weight_of(route["spec"].get("rules") or [], target.name)

    def hostnames(self, target: RouteTarget) -> list[str]:
        return [str(host) for host in self._route(target)["spec"].get("hostnames") or []]
