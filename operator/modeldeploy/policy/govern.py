"""What a policy makes of one ModelDeployment: the spec the operator runs, the policy behind
it, and the rules it breaks. A rollout in flight stays under the policy it started with (kept
in `status.rollout.policy`); anything new is judged by the policy that applies now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modeldeploy.api import conditions as cond
from modeldeploy.api.policy import PolicyRef, PolicySnapshot
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.api.webhook_targets import STRICT, TargetRules
from modeldeploy.policy.merge import apply_defaults
from modeldeploy.policy.rules import floor_checks, violations
from modeldeploy.policy.select import Policy
from modeldeploy.validation import load_spec

POLICY_VIOLATION = "PolicyViolation"


@dataclass(frozen=True)
class Governed:
    spec: ModelDeploymentSpec
    """The ModelDeployment's own spec with the governing policy's defaults under it."""
    policy: PolicySnapshot | None
    """The governing policy: the one a rollout in flight started under, else the current."""
    pinned: bool
    """The policy is the one a rollout in flight started under."""
    violations: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        """Violations hold back anything new; a rollout in flight goes on under its policy."""
        return bool(self.violations) and not self.pinned

    @property
    def ref(self) -> PolicyRef | None:
        if self.policy is None or self.policy.name is None:
            return None
        return PolicyRef(name=self.policy.name, generation=self.policy.generation)


def _in_flight_snapshot(status: ModelDeploymentStatus, revision: str) -> PolicySnapshot | None:
    state = status.rollout
    if state is None or state.revision != revision:
        return None
    return state.policy


def govern(
    raw_spec: dict[str, Any],
    revision: str,
    status: ModelDeploymentStatus,
    current: Policy | None,
    own: ModelDeploymentSpec | None = None,
    default_image: str = DEFAULT_SERVING_IMAGE,
    targets: TargetRules = STRICT,
) -> Governed:
    """Raises InvalidSpec when the spec, with the defaults under it, cannot be run. `own`, the
    spec already read from `raw_spec`, is used as it is where no defaults change it; a spec
    that names no serving image gets `default_image`; notification URLs are judged by
    `targets`, what the operator allows."""
    own = own or load_spec(raw_spec, default_image, targets)
    pinned = _in_flight_snapshot(status, revision)
    if pinned is not None:
        governing: PolicySnapshot | None = pinned
    elif current is not None and current.problem is not None:
        # A policy the operator cannot read still claims the namespace: nothing new starts.
        snapshot = PolicySnapshot(name=current.name, generation=current.generation)
        return Governed(own, snapshot, False, [current.problem])
    else:
        governing = current.snapshot() if current is not None else None
    defaults = governing.defaults if governing is not None else None
    merged = apply_defaults(raw_spec, defaults)
    model_spec = own if merged is raw_spec else load_spec(merged, default_image, targets)
    found: list[str] = []
    if governing is not None and governing.name is not None:
        floors = floor_checks(defaults.rollout if defaults is not None else None)
        found = [str(v) for v in violations(model_spec, governing.name, governing.rules, floors)]
    return Governed(model_spec, governing, pinned is not None, found)


def served_spec(status: ModelDeploymentStatus) -> tuple[ModelDeploymentSpec, str] | None:
    """What is serving now, as a spec, and its revision: what a blocked object keeps."""
    stable = status.stable
    if stable is None or stable.source is None:
        return None
    return stable.source.to_spec(stable.replicas), stable.revision


def record(
    status: ModelDeploymentStatus,
    governed: Governed,
    now_iso: str,
    generation: int | None,
) -> ModelDeploymentStatus:
    """`status` with the policy's part: which policy shaped it, the policy a new rollout
    starts under, and the PolicyViolation condition."""
    updated = status.model_copy()
    ref = governed.ref
    updated.policy = ref
    if updated.rollout is not None and updated.rollout.policy is None:
        state = updated.rollout.model_copy()
        state.policy = governed.policy or PolicySnapshot()
        updated.rollout = state
    updates: list[cond.ConditionUpdate] = []
    if governed.violations:
        message = "; ".join(governed.violations)
        updates.append(cond.ConditionUpdate(POLICY_VIOLATION, "True", "RulesBroken", message))
        if governed.blocked:
            updated.message = f"{message}; no new rollout starts until the spec complies. " + (
                updated.message or ""
            )
            # The spec's revision will not be reached until a person changes the spec.
            updates += [
                cond.ConditionUpdate(cond.RECONCILING, "False", POLICY_VIOLATION, message),
                cond.ConditionUpdate(cond.STALLED, "True", POLICY_VIOLATION, message),
            ]
    elif ref is not None:
        updates.append(
            cond.ConditionUpdate(POLICY_VIOLATION, "False", "Compliant", f"policy {ref.name}")
        )
    else:
        updates.append(cond.ConditionUpdate(POLICY_VIOLATION, "False", "NoPolicy", ""))
    updated.conditions = cond.merge_conditions(updated.conditions, updates, now_iso, generation)
    return updated
