"""Steps a router cannot give as written.

The replicas router splits pods, not requests: with 4 replicas a 5% step is one canary pod of
four, 25% of the traffic. Such a step is not refused (a later scale-up may make it honest), but
said plainly: at admission as a warning, in an Event when the rollout starts, and in the
status message of the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.rollout.state import resolved_steps
from modeldeploy.traffic.base import Router
from modeldeploy.traffic.factory import router_for

TOLERANCE = 5
"""Points a step's real share may differ from its weight before it is called approximate."""
MAX_REPLICAS_SEARCHED = 1000


@dataclass(frozen=True)
class Approximated:
    weight: int
    share: int
    """Percent of client traffic the canary really gets at this step, every pod Ready."""
    replicas: int
    honest_from: int | None
    """The fewest replicas at which the step is within TOLERANCE, if any up to 1000."""


def approximated_steps(spec: ModelDeploymentSpec) -> list[Approximated]:
    rollout = spec.rollout
    if rollout is None or rollout.strategy == "blueGreen":
        return []
    router = router_for(rollout.traffic)
    found = []
    for step in resolved_steps(rollout):
        share = router.honoured_weight(spec.replicas, step.weight)
        if abs(share - step.weight) > TOLERANCE:
            found.append(
                Approximated(step.weight, share, spec.replicas, _honest_from(router, step.weight))
            )
    return found


def _honest_from(router: Router, weight: int) -> int | None:
    for replicas in range(1, MAX_REPLICAS_SEARCHED + 1):
        if abs(router.honoured_weight(replicas, weight) - weight) <= TOLERANCE:
            return replicas
    return None


def warning(spec: ModelDeploymentSpec) -> str | None:
    """One sentence naming every step the router gives otherwise than written, or None."""
    found = approximated_steps(spec)
    if not found:
        return None
    parts = []
    for item in found:
        text = f"{item.weight}% is {item.share}%"
        if item.honest_from is not None:
            text += f" (within {TOLERANCE} points from {item.honest_from} replicas)"
        parts.append(text)
    return (
        f"the replicas router splits pods, not requests: with {found[0].replicas} replicas "
        f"step weight {', '.join(parts)}; use more replicas, other step weights or the "
        "gateway-api router for an exact split"
    )
