"""A policy's rules, checked against the spec the operator would run (the ModelDeployment's
own with the policy's defaults under it). Each violation names the policy, the rule, the field
and the value, in the words both admission and status use.

Rules judge what the rollout's strategy will do with the spec, not the fields one by one: a
blue/green rollout is one switch of all traffic whatever steps the spec also lists, a canary
without steps runs the state machine's default steps, and a shadow's own checks are checks the
rollout runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modeldeploy.analysis.validate import check_problem
from modeldeploy.api.policy import ClusterRolloutPolicySpec, PolicyRules
from modeldeploy.api.spec import (
    BUILTIN_CHECK_NAMES,
    CheckSpec,
    ModelDeploymentSpec,
    RolloutSpec,
    ShadowSpec,
    parse_duration,
)
from modeldeploy.policy import reach
from modeldeploy.rollout.shadow import checks as shadow_checks
from modeldeploy.rollout.state import resolved_steps
from modeldeploy.validation import rollout_problems

# Every client request to the new revision: a canary's step of 100, or blue/green's switch.
ALL_TRAFFIC = 100
BLUE_GREEN = "blueGreen"
# The checks a shadow runs when its bounds call for them.
SHADOW_CHECK_NAMES = frozenset(
    check.name
    for check in shadow_checks(ShadowSpec.model_validate({"minAgreement": 1, "maxMeanAbsDiff": 0}))
)


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


@dataclass(frozen=True)
class Step:
    """A weight the strategy gives the new revision before its promotion, and the field of the
    spec it comes from."""

    field: str
    value: str
    weight: int
    blue_green: bool = False
    note: str = ""
    """What else about the spec the strategy's reading of it explains."""

    @property
    def what(self) -> str:
        return f"strategy {self.value}" if self.blue_green else f"step weight {self.weight}"


def ramp(rollout: RolloutSpec, root: str = "spec.rollout") -> list[Step]:
    """The weights the rollout's strategy will give the new revision, in order, up to (not
    counting) the promotion."""
    if rollout.strategy == BLUE_GREEN:
        note = ""
        if rollout.steps is not None or rollout.step_weights is not None:
            listed = "steps" if rollout.steps is not None else "stepWeights"
            note = f"{root}.{listed} is not used by blue/green"
        return [Step(f"{root}.strategy", BLUE_GREEN, ALL_TRAFFIC, blue_green=True, note=note)]
    if rollout.steps is not None:
        return [
            Step(f"{root}.steps[{index}].weight", str(step.weight), step.weight)
            for index, step in enumerate(rollout.steps)
        ]
    if rollout.step_weights is not None:
        return [
            Step(f"{root}.stepWeights[{index}]", str(weight), weight)
            for index, weight in enumerate(rollout.step_weights)
        ]
    defaults = resolved_steps(rollout)
    note = "a canary without steps of its own runs weights " + ", ".join(
        str(step.weight) for step in defaults
    )
    return [
        Step(f"{root}.stepWeights (default)", str(step.weight), step.weight, note=note)
        for step in defaults
    ]


def excess(steps: list[Step], index: int, max_step_weight: int) -> str | None:
    """None when steps[index] keeps a maxStepWeight; otherwise what the step does that its
    weight alone does not say ("" when it says it all)."""
    step = steps[index]
    if step.weight <= max_step_weight:
        return None
    if step.blue_green:
        does = (
            "blue/green switches all client traffic to the new revision in one step, a step of "
            f"{ALL_TRAFFIC}"
        )
    elif step.weight == ALL_TRAFFIC:
        if index > 0:
            # After smaller steps, all traffic to the new revision is where its promotion
            # begins: the one step the rule leaves free.
            return None
        does = f"a first step of {ALL_TRAFFIC} switches all client traffic to the new revision"
    else:
        return step.note
    return f"{does} ({step.note})" if step.note else does


def checks_run(rollout: RolloutSpec, root: str = "spec.rollout") -> list[tuple[str, CheckSpec]]:
    """Every check the rollout runs, each with the field it comes from: its own, and the
    shadow's, which judge the copies of live requests for as long as they go on."""
    run = [(f"{root}.checks[{index}]", check) for index, check in enumerate(rollout.checks)]
    if rollout.shadow is not None:
        run += [(f"{root}.shadow", check) for check in shadow_checks(rollout.shadow)]
    return run


def floor_checks(defaults: Any) -> list[CheckSpec]:
    """The bounds a policy's rollout defaults set on checks (RolloutDefaults, or None): a
    required check may only tighten them."""
    if defaults is None:
        return []
    floors: list[CheckSpec] = list(defaults.checks or [])
    if defaults.shadow is not None:
        floors += shadow_checks(defaults.shadow)
    return floors


def _loosened(own: CheckSpec, floor: CheckSpec) -> list[str]:
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


def required_check_problems(
    name: str, run: list[tuple[str, CheckSpec]], floors: Iterable[CheckSpec]
) -> list[tuple[str, str, str]]:
    """(field, value, problem) for each way the checks `run` fail to run the built-in check
    `name` within the policy's `floors`; none when one of them does."""
    same_name = [(field, check) for field, check in run if check.name == name]
    if not same_name:
        problem = f"check {name} is required"
        if name in SHADOW_CHECK_NAMES:
            problem += "; a shadow (spec.rollout.shadow) runs it when its bounds call for it"
        return [("spec.rollout.checks", "without " + name, problem)]
    built_in = [(field, check) for field, check in same_name if check.query is None]
    if not built_in:
        # A custom query can measure anything at all; the name alone proves nothing.
        return [
            (
                f"{field} ({name})",
                "a custom query",
                f"check {name} is required as the built-in {name}, which a check of the same "
                "name with its own query is not; leave out query to run the built-in",
            )
            for field, _check in same_name
        ]
    bounds = [floor for floor in floors if floor.name == name]
    loose = [
        (field, check, [why for floor in bounds for why in _loosened(check, floor)])
        for field, check in built_in
    ]
    if any(not why for _field, _check, why in loose):
        return []
    return [
        (f"{field} ({name})", _bound(check), "bounds may only tighten: " + "; ".join(why))
        for field, check, why in loose
    ]


def violations(
    model_spec: ModelDeploymentSpec,
    policy: str,
    rules: PolicyRules,
    default_checks: list[CheckSpec] | None = None,
) -> list[Violation]:
    """Every rule of `policy` that `model_spec` (defaults already merged) breaks.
    `default_checks`: the bounds the policy's defaults set (floor_checks)."""
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
    scaling = model_spec.autoscaling
    if (
        rules.max_replicas is not None
        and scaling is not None
        and scaling.max_replicas > rules.max_replicas
    ):
        broken("maxReplicas", "spec.autoscaling.maxReplicas", scaling.max_replicas,
               f"at most {rules.max_replicas} allowed")  # fmt: skip
    for breach in reach.breaches(model_spec, rules):
        broken(breach.rule, breach.field, breach.value, breach.problem)
    if rollout is None:
        return found
    if rules.max_step_weight is not None:
        limit = f"no step may exceed {rules.max_step_weight}"
        steps = ramp(rollout)
        for index, step in enumerate(steps):
            does = excess(steps, index, rules.max_step_weight)
            if does is not None:
                broken(
                    "maxStepWeight", step.field, step.value, f"{does}; {limit}" if does else limit
                )
    if rules.min_interval is not None and parse_duration(rollout.interval) < parse_duration(
        rules.min_interval
    ):
        broken("minInterval", "spec.rollout.interval", rollout.interval,
               f"at least {rules.min_interval} required")  # fmt: skip
    run = checks_run(rollout)
    for name in rules.required_checks or []:
        for field, value, problem in required_check_problems(name, run, default_checks or []):
            broken("requiredChecks", field, value, problem)
    return found


def policy_problems(policy: ClusterRolloutPolicySpec) -> list[str]:
    """What makes a policy unusable: rules no ModelDeployment could keep, and defaults that
    could never run or that break the policy's own rules."""
    rules = policy.rules
    problems = reach.entry_problems(rules)
    required = rules.required_checks or []
    for name in required:
        if name not in BUILTIN_CHECK_NAMES:
            problems.append(
                f"spec.rules.requiredChecks: {name} is no built-in check, and a required check "
                "must be one: " + ", ".join(BUILTIN_CHECK_NAMES)
            )
    defaults = policy.defaults.rollout if policy.defaults is not None else None
    if defaults is None:
        return problems
    problems += rollout_problems(
        defaults.interval,
        defaults.progress_deadline,
        defaults.smoke_test,
        defaults.checks,
        "spec.defaults.rollout",
    )
    for index, check in enumerate(defaults.checks or []):
        problem = check_problem(check)
        if problem is not None:
            problems.append(f"spec.defaults.rollout.checks[{index}] ({check.name}): {problem}")
        elif check.name in required and check.query is not None:
            problems.append(
                f"spec.defaults.rollout.checks[{index}] ({check.name}): a custom query under "
                f"the name of a required check breaks the policy's own requiredChecks, which "
                f"asks for the built-in {check.name}"
            )
    # Only what the defaults set themselves is theirs to break: a canary they leave without
    # steps gets the ModelDeployment's own, or the state machine's.
    sets_ramp = (
        defaults.strategy == BLUE_GREEN
        or defaults.steps is not None
        or defaults.step_weights is not None
    )
    if rules.max_step_weight is not None and sets_ramp:
        as_run = RolloutSpec.model_validate(defaults.model_dump(exclude_none=True))
        steps = ramp(as_run, "spec.defaults.rollout")
        for index, step in enumerate(steps):
            does = excess(steps, index, rules.max_step_weight)
            if does is not None:
                problems.append(
                    f"spec.defaults.rollout: {step.what} breaks the policy's own maxStepWeight "
                    f"{rules.max_step_weight}" + (f": {does}" if does else "")
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
