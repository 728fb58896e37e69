"""A policy's defaults under a ModelDeployment's own spec. The spec itself is never rewritten:
the merged form is what the operator runs, computed afresh on every reconcile."""

from __future__ import annotations

from typing import Any

from modeldeploy.api.policy import PolicyDefaults

# Fields that say one thing two ways: when the spec sets either, the defaults' both give way.
_ALTERNATIVES = ({"steps", "stepWeights"},)


def _merge(defaults: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """`own` over `defaults`, object by object; a list is one value, never merged item-wise."""
    merged = dict(defaults)
    for group in _ALTERNATIVES:
        if group & own.keys():
            for key in group:
                merged.pop(key, None)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_defaults(raw_spec: dict[str, Any], defaults: PolicyDefaults | None) -> dict[str, Any]:
    """The spec the operator runs: the ModelDeployment's own, with the policy's defaults
    filling what it leaves out."""
    if defaults is None or defaults.rollout is None:
        return raw_spec
    rollout = defaults.rollout.model_dump(mode="json", by_alias=True, exclude_none=True)
    own = raw_spec.get("rollout")
    if isinstance(own, dict):
        rollout = _merge(rollout, own)
    return {**raw_spec, "rollout": rollout}
