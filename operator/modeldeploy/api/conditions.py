"""Kubernetes-style conditions: lastTransitionTime moves only when the status changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modeldeploy.api.status import Condition

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
# kstatus' conditions (sigs.k8s.io/cli-utils), which Flux and kpt judge health by: Reconciling
# while the spec's revision is not serving yet, Stalled when it will not get there by itself.
RECONCILING = "Reconciling"
STALLED = "Stalled"

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def merge_conditions(
    current: list[Condition],
    updates: list[ConditionUpdate],
    now: str,
    generation: int | None,
) -> list[Condition]:
    """The conditions after `updates`, keeping the order of types and untouched conditions."""
    by_type = {c.type: c for c in current}
    merged = dict(by_type)
    for update in updates:
        previous = by_type.get(update.type)
        changed = previous is None or previous.status != update.status
        merged[update.type] = Condition(
            type=update.type,
            status=update.status,
            reason=update.reason,
            message=update.message,
            last_transition_time=(
                now if changed or previous is None else previous.last_transition_time
            ),
            observed_generation=generation,
        )
    order = [READY, PROGRESSING, DEGRADED, RECONCILING, STALLED]
    return sorted(
        merged.values(),
        key=lambda c: (order.index(c.type) if c.type in order else len(order), c.type),
    )


def find_condition(conditions: list[Condition], condition_type: str) -> Condition | None:
    return next((c for c in conditions if c.type == condition_type), None)
