"""A policy's rules, checked against the spec the operator would run (the ModelDeployment's
own with the policy's defaults under it). Each violation names the policy, the rule, the field
and the value, in the words both admission and status use."""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.analysis.validate import check_problem
from modeldeploy.policy.model import ClusterRolloutPolicySpec, PolicyRules
from modeldeploy.spec import (
    CheckSpec,
    ModelDeploymentSpec,
    RolloutSpec,
    parse_duration,
)

# A ramp without steps of its own runs these weights (the state machine's defaults).
DEFAULT_STEP_WEIGHTS = (10, 50)
PROMOTION_WEIGHT = 100


@dataclass(frozen=True)
class Violation:
    policy: str
    rule: str
    field: str
    value: str
    problem: str

    def __str__(self) -> str:
        return (
            f"policy {self.policy}, rule {self.rule}: {self.field} is {self.value}; {self.problem}"
        )


def _step_weights(rollout: RolloutSpec) -> list[tuple[str, int]]:
    if rollout.steps is not None:
        return [(f"spec.rollout.steps[{i}].weight", s.weight) for i, s in enumerate(rollout.steps)]
    if rollout.step_weights is not None:
        return [(f"spec.rollout.stepWeights[{i}]", w) for i, w in enumerate(rollout.step_weights)]
    return [("spec.rollout.stepWeights (default)", w) for w in DEFAULT_STEP_WEIGHTS]


def _tightened(own: CheckSpec, floor: CheckSpec) -> list[str]:
    """How `own` loosens the policy's `floor` for the same check, if it does."""
    loosened = []
    if floor.query != own.query:
        loosened.append("its query differs from the policy's")
    if floor.max is not None and (own.max is None or own.max > floor.max):
        loosened.append(f"max must be at most {floor.max:g}")
    if floor.min is not None and (own.min is None or own.min < floor.min):
        loosened.append(f"min must be at least {floor.min:g}")
    if floor.max_increase is not None and (
        own.max_increase is None or own.max_increase > floor.max_increase
    ):
        loosened.append(f"maxIncrease must be at most {floor.max_increase:g}")
    return loosened


def _bound(check: CheckSpec) -> str:
    parts = [
        f"{key}={value:g}"
        for key, value in (
            ("max", check.max),
            ("min", check.min),
            ("maxIncrease", check.max_increase),
        )
        if value is not None
    ]
    return ", ".join(parts)


def violations(
    model_spec: ModelDeploymentSpec,
    policy: str,
    rules: PolicyRules,
    default_checks: list[CheckSpec] | None = None,
) -> list[Violation]:
    """Every rule of `policy` that `model_spec` (defaults already merged) breaks."""
    found: list[Violation] = []

    def broken(rule: str, field: str, value: object, problem: str) -> None:
        found.append(Violation(policy, rule, field, str(value), problem))

    rollout = model_spec.rollout
    if rules.require_rollout and rollout is None:
        broken(
            "requireRollout", "spec.rollout", "absent", "a new version must be rolled out in steps"
        )
    if rules.require_sha256 and model_spec.model.sha256 is None:
        broken("requireSha256", "spec.model.sha256", "absent", "the model's sha256 is required")
    if rules.max_replicas is not None and model_spec.replicas > rules.max_replicas:
        broken("maxReplicas", "spec.replicas", model_spec.replicas,
               f"at most {rules.max_replicas} allowed")  # fmt: skip
    if rules.allowed_model_uris is not None and not model_spec.model.uri.startswith(
        tuple(rules.allowed_model_uris)
    ):
        broken("allowedModelUris", "spec.model.uri", model_spec.model.uri,
               "allowed prefixes: " + ", ".join(rules.allowed_model_uris))  # fmt: skip
    if rules.allowed_images is not None and not model_spec.serving.image.startswith(
        tuple(rules.allowed_images)
    ):
        broken("allowedImages", "spec.serving.image", model_spec.serving.image,
               "allowed prefixes: " + ", ".join(rules.allowed_images))  # fmt: skip
    if rollout is None:
        return found
    if rules.max_step_weight is not None:
        for field, weight in _step_weights(rollout):
            if rules.max_step_weight < weight < PROMOTION_WEIGHT:
                broken("maxStepWeight", field, weight,
                       f"no step may exceed {rules.max_step_weight}")  # fmt: skip
    if rules.min_interval is not None and parse_duration(rollout.interval) < parse_duration(
        rules.min_interval
    ):
        broken("minInterval", "spec.rollout.interval", rollout.interval,
               f"at least {rules.min_interval} required")  # fmt: skip
    floors = {c.name: c for c in default_checks or []}
    own = {c.name: (i, c) for i, c in enumerate(rollout.checks)}
    for name in rules.required_checks or []:
        if name not in own:
            broken("requiredChecks", "spec.rollout.checks", "without " + name,
                   f"check {name} is required")  # fmt: skip
            continue
        index, check = own[name]
        floor = floors.get(name)
        loosened = _tightened(check, floor) if floor is not None else []
        if loosened:
            broken("requiredChecks", f"spec.rollout.checks[{index}] ({name})", _bound(check),
                   "bounds may only tighten: " + "; ".join(loosened))  # fmt: skip
    return found


def policy_problems(policy: ClusterRolloutPolicySpec) -> list[str]:
    """What makes a policy unusable: defaults that could never run, or that break the
    policy's own rules."""
    problems: list[str] = []
    rules = policy.rules
    defaults = policy.defaults.rollout if policy.defaults is not None else None
    if defaults is None:
        return problems
    for index, check in enumerate(defaults.checks or []):
        problem = check_problem(check)
        if problem is not None:
            problems.append(f"spec.defaults.rollout.checks[{index}] ({check.name}): {problem}")
    weights = [s.weight for s in defaults.steps or []] or list(defaults.step_weights or [])
    if rules.max_step_weight is not None:
        for weight in weights:
            if rules.max_step_weight < weight < PROMOTION_WEIGHT:
                problems.append(
                    f"spec.defaults.rollout: step weight {weight} breaks the policy's own "
                    f"maxStepWeight {rules.max_step_weight}"
                )
    if (
        rules.min_interval is not None
        and defaults.interval is not None
        and parse_duration(defaults.interval) < parse_duration(rules.min_interval)
    ):
        problems.append(
            f"spec.defaults.rollout.interval {defaults.interval} breaks the policy's own "
            f"minInterval {rules.min_interval}"
        )
    return problems
