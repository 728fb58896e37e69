"""Kubernetes-style conditions: lastTransitionTime moves only when the status changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    current: list[dict[str, Any]],
    updates: list[ConditionUpdate],
    now: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """The conditions after `updates`, keeping the order of types and untouched conditions."""
    by_type = {c["type"]: c for c in current}
    merged = dict(by_type)
    for update in updates:
        previous = by_type.get(update.type)
        changed = previous is None or previous.get("status") != update.status
        merged[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": (
                now if changed or previous is None else previous.get("lastTransitionTime", now)
            ),
            "observedGeneration": generation,
        }
    order = [READY, PROGRESSING, DEGRADED, RECONCILING, STALLED]
    return sorted(
        merged.values(),
        key=lambda c: (order.index(c["type"]) if c["type"] in order else len(order), c["type"]),
    )


def find_condition(conditions: list[dict[str, Any]], condition_type: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == condition_type), None)
