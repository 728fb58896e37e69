"""The replicas router: no mesh, no route object. The weight is the canary's share of the
ready pods behind the client Service, set through the Deployments' sizes."""

from __future__ import annotations

import math

from modeldeploy.traffic.base import RouteTarget


def split_replicas(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) replicas for `weight` percent to the canary, keeping the total.

    The canary gets at least one replica as soon as it has any weight, and the stable keeps at
    least one while the canary has less than all of it; with a single replica this means two
    pods serve during the ramp, the nearest the ratio can get.
    """
    if weight <= 0:
        return total, 0
    if weight >= 100:
        return 0, max(total, 1)
    canary = max(1, round(total * weight / 100))
    stable = max(1, total - canary)
    if total >= 2:
        canary = min(canary, total - 1)
        stable = total - canary
    return stable, canary


def effective_weight(stable_ready: int, canary_ready: int) -> int:
    """Percent of ready serving pods that are canary pods: what clients actually get."""
    total = stable_ready + canary_ready
    if total == 0:
        return 0
    return math.floor(100 * canary_ready / total + 0.5)


class ReplicasRouter:
    def track_replicas(
        self, replicas: int, weight: int, routed: int | None = None
    ) -> tuple[int, int]:
        # The pods are the split: the stable shrinks as the canary grows, whatever is routed.
        return split_replicas(replicas, weight)

    def client_revisions(
        self, stable: str, canary: str | None, weight: int, filling: str | None = None
    ) -> list[str]:
        # Only a ramp shares the client Service: a canary at weight 0 (not yet at its step, or
        # rolled back) gets no client traffic, nor does a previous stable kept warm after a
        # promotion, once the new stable is at full strength; until then it still serves.
        if canary is None or weight <= 0:
            return [stable] if filling is None else [stable, filling]
        if weight >= 100:
            return [canary]
        return [stable, canary]

    def effective_weight(
        self, weight: int, stable_ready: int, canary_ready: int, route_weight: int | None
    ) -> int:
        if weight <= 0:
            return 0
        if weight >= 100:
            return 100 if canary_ready else 0
        return effective_weight(stable_ready, canary_ready)

    def honoured_weight(self, replicas: int, weight: int) -> int:
        if weight <= 0 or weight >= 100:
            return max(0, min(weight, 100))
        stable, canary = split_replicas(replicas, weight)
        return effective_weight(stable, canary)

    def set_weight(self, target: RouteTarget, weight: int) -> None:
        return None

    def read_weight(self, target: RouteTarget) -> int | None:
        return None

    def hostnames(self, target: RouteTarget) -> list[str]:
        return []
