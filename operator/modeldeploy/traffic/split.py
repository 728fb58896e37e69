"""Pure arithmetic of the replica-ratio router (no mesh: weight = share of ready replicas)."""

from __future__ import annotations

import math


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
