"""Which ClusterRolloutPolicy applies to a namespace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modeldeploy.api.policy import (
    ClusterRolloutPolicySpec,
    LabelSelector,
    PolicySnapshot,
    parse_policy_spec,
)
from modeldeploy.policy.rules import policy_problems
from modeldeploy.validation import describe_validation_error


@dataclass(frozen=True)
class Policy:
    """A policy as the operator caches it. One the API server stored but the operator cannot
    use (admission was down, say) keeps its name, selector and priority, so that it still
    claims its namespaces and holds their rollouts, and says why in `problem`."""

    name: str
    generation: int
    priority: int = 0
    selector: LabelSelector | None = None
    spec: ClusterRolloutPolicySpec | None = None
    problem: str | None = None

    def snapshot(self) -> PolicySnapshot:
        spec = self.spec or ClusterRolloutPolicySpec()
        return PolicySnapshot(
            name=self.name, generation=self.generation, defaults=spec.defaults, rules=spec.rules
        )


def read_policy(body: Mapping[str, Any]) -> Policy:
    meta = body.get("metadata") or {}
    name, generation = str(meta.get("name", "")), int(meta.get("generation") or 0)
    raw = body.get("spec") or {}
    try:
        spec = parse_policy_spec(raw)
    except ValidationError as error:
        return _unusable(name, generation, raw, describe_validation_error(error))
    problems = policy_problems(spec)
    if problems:
        return _unusable(name, generation, raw, "; ".join(problems))
    return Policy(name, generation, spec.priority, spec.namespace_selector, spec)


def _unusable(name: str, generation: int, raw: Mapping[str, Any], problem: str) -> Policy:
    priority = raw.get("priority")
    try:
        selector = LabelSelector.model_validate(raw.get("namespaceSelector") or {})
    except ValidationError:
        selector = None  # an unreadable selector claims every namespace: the safe side
    return Policy(
        name,
        generation,
        priority if isinstance(priority, int) and not isinstance(priority, bool) else 0,
        selector,
        None,
        f"policy {name} is invalid: {problem}",
    )


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes' label selector semantics; no selector, or an empty one, matches all."""
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or []:
        present = requirement.key in labels
        values = requirement.values or []
        if requirement.operator == "In" and labels.get(requirement.key) not in values:
            return False
        if requirement.operator == "NotIn" and present and labels[requirement.key] in values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True


def select_policy(policies: Iterable[Policy], namespace_labels: Mapping[str, str]) -> Policy | None:
    """The policy for a namespace: of those whose selector matches its labels, the one of
    highest priority, then the first by name."""
    matching = [p for p in policies if selector_matches(p.selector, namespace_labels)]
    if not matching:
        return None
    return min(matching, key=lambda p: (-p.priority, p.name))
