"""The rules judge what the rollout's strategy will do with a spec: blue/green as the one switch
of all traffic it is, a canary without steps on the state machine's default steps, a shadow's
checks as checks the rollout runs, and a required check only as the built-in it names. Both the
admission webhook and the operator read the rules through `govern`, so both are tested here."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.policy import PolicyRules, parse_policy_spec
from modeldeploy.api.spec import BUILTIN_CHECK_NAMES, CheckSpec, RolloutSpec, parse_spec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.policy.govern import govern
from modeldeploy.policy.rules import (
    ALL_TRAFFIC,
    SHADOW_CHECK_NAMES,
    checks_run,
    floor_checks,
    policy_problems,
    ramp,
    violations,
)
from modeldeploy.policy.select import Policy, read_policy
from modeldeploy.rollout import resolved_steps
from modeldeploy.rollout.shadow import checks as shadow_checks
from modeldeploy.shell.admission import refusal_for_model_deployment, refusal_for_policy

MODEL = {"name": "iris", "version": "v1", "uri": "s3://models-prod/iris", "format": "sklearn"}
DEFAULT_WEIGHTS = [step.weight for step in resolved_steps(RolloutSpec())]
BLUE_GREEN_25 = (
    "policy production, rule maxStepWeight: spec.rollout.strategy is blueGreen; blue/green "
    "switches all client traffic to the new revision in one step, a step of 100"
)


def spec(rollout: dict[str, Any] | None = None, **fields: Any) -> Any:
    raw: dict[str, Any] = {"model": MODEL, **fields}
    if rollout is not None:
        raw["rollout"] = rollout
    return parse_spec(raw)


def broken(model_spec: Any, floors: list[CheckSpec] | None = None, **rules: Any) -> list[str]:
    found = violations(model_spec, "production", PolicyRules.model_validate(rules), floors)
    return [str(v) for v in found]


def policy(**raw: Any) -> Policy:
    return read_policy({"metadata": {"name": "production", "generation": 1}, "spec": raw})


def weights_flagged(model_spec: Any, max_step_weight: int) -> list[str]:
    """The values maxStepWeight refuses, in order."""
    return [
        v.split(" is ", 1)[1].split(";")[0]
        for v in broken(model_spec, maxStepWeight=max_step_weight)
    ]


# Weights as the schema takes them: rising, 1 to 100, at most 32 of them.
RISING_WEIGHTS = st.lists(st.integers(1, 100), min_size=1, max_size=32, unique=True).map(sorted)
MAX_STEP_WEIGHT = st.integers(1, 100)


# ---- blue/green is one step of 100 --------------------------------------------------------


def test_blue_green_is_refused_under_a_max_step_weight_naming_the_strategy() -> None:
    found = broken(spec({"strategy": "blueGreen"}), maxStepWeight=25)
    assert found == [BLUE_GREEN_25 + "; no step may exceed 25"]


@pytest.mark.parametrize(
    ("rollout", "listed"),
    [
        ({"stepWeights": [5]}, "stepWeights"),
        ({"stepWeights": [1, 2, 3]}, "stepWeights"),
        ({"steps": [{"weight": 5, "approval": "required"}]}, "steps"),
    ],
)
def test_steps_listed_beside_blue_green_do_not_make_it_a_ramp(
    rollout: dict[str, Any], listed: str
) -> None:
    found = broken(spec({"strategy": "blueGreen", **rollout}), maxStepWeight=25)
    assert found == [
        BLUE_GREEN_25 + f" (spec.rollout.{listed} is not used by blue/green); no step may exceed 25"
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"blueGreen": {"previewDuration": "1h", "approval": "required"}},
        {"shadow": {"percent": 100, "duration": "1h", "minAgreement": 0.99}},
        {"checks": [{"name": "error-rate", "max": 0.001}], "interval": "5m"},
    ],
)
def test_preview_approval_or_shadow_still_end_in_one_switch(options: dict[str, Any]) -> None:
    found = broken(spec({"strategy": "blueGreen", **options}), maxStepWeight=99)
    assert len(found) == 1 and found[0].startswith(BLUE_GREEN_25)


@given(MAX_STEP_WEIGHT, st.none() | RISING_WEIGHTS)
def test_blue_green_is_refused_exactly_below_100(
    max_step_weight: int, step_weights: list[int] | None
) -> None:
    rollout: dict[str, Any] = {"strategy": "blueGreen"}
    if step_weights is not None:
        rollout["stepWeights"] = step_weights
    flagged = weights_flagged(spec(rollout), max_step_weight)
    assert flagged == ([] if max_step_weight == ALL_TRAFFIC else ["blueGreen"])


def test_blue_green_without_a_max_step_weight_breaks_nothing() -> None:
    assert broken(spec({"strategy": "blueGreen"}), requireRollout=True) == []


# ---- a canary: its own steps, or the state machine's defaults -------------------------------


def test_a_canary_without_steps_is_judged_on_the_state_machines_default_steps() -> None:
    largest = max(DEFAULT_WEIGHTS)
    found = broken(spec({}), maxStepWeight=largest - 1)
    assert found == [
        f"policy production, rule maxStepWeight: spec.rollout.stepWeights (default) is {largest}; "
        "a canary without steps of its own runs weights "
        + ", ".join(str(w) for w in DEFAULT_WEIGHTS)
        + f"; no step may exceed {largest - 1}"
    ]
    assert broken(spec({}), maxStepWeight=largest) == []


def test_the_default_steps_are_the_ones_the_canary_runs() -> None:
    rollout = RolloutSpec()
    assert [step.weight for step in ramp(rollout)] == [s.weight for s in resolved_steps(rollout)]
    assert all(step.field == "spec.rollout.stepWeights (default)" for step in ramp(rollout))


@given(MAX_STEP_WEIGHT)
def test_default_steps_are_judged_as_the_same_steps_written_out(max_step_weight: int) -> None:
    implicit = weights_flagged(spec({}), max_step_weight)
    explicit = weights_flagged(spec({"stepWeights": DEFAULT_WEIGHTS}), max_step_weight)
    assert implicit == explicit


@given(RISING_WEIGHTS, MAX_STEP_WEIGHT)
def test_every_step_above_the_max_is_refused_but_a_promotion_after_smaller_steps(
    weights: list[int], max_step_weight: int
) -> None:
    expected = [
        str(w)
        for i, w in enumerate(weights)
        if w > max_step_weight and not (w == ALL_TRAFFIC and i > 0)
    ]
    assert weights_flagged(spec({"stepWeights": weights}), max_step_weight) == expected
    as_steps = spec({"steps": [{"weight": w} for w in weights]})
    assert weights_flagged(as_steps, max_step_weight) == expected


@pytest.mark.parametrize("rollout", [{"stepWeights": [100]}, {"steps": [{"weight": 100}]}])
def test_a_first_step_of_100_is_one_switch_of_all_traffic(rollout: dict[str, Any]) -> None:
    found = broken(spec(rollout), maxStepWeight=25)
    assert len(found) == 1
    assert found[0].endswith(
        "is 100; a first step of 100 switches all client traffic to the new revision; "
        "no step may exceed 25"
    )
    assert broken(spec(rollout), maxStepWeight=100) == []


def test_a_step_of_100_after_smaller_ones_is_the_promotion() -> None:
    assert broken(spec({"stepWeights": [5, 25, 100]}), maxStepWeight=25) == []
    assert broken(spec({"stepWeights": [30, 100]}), maxStepWeight=25) == [
        "policy production, rule maxStepWeight: spec.rollout.stepWeights[0] is 30; "
        "no step may exceed 25"
    ]


@given(RISING_WEIGHTS, MAX_STEP_WEIGHT)
def test_shadow_and_approval_do_not_change_what_the_steps_weigh(
    weights: list[int], max_step_weight: int
) -> None:
    plain = spec({"steps": [{"weight": w} for w in weights]})
    held = spec(
        {
            "steps": [{"weight": w, "approval": "required", "pause": "1m"} for w in weights],
            "shadow": {"minAgreement": 0.9},
        }
    )
    assert broken(held, maxStepWeight=max_step_weight) == broken(
        plain, maxStepWeight=max_step_weight
    )


# ---- interval: every strategy checks at the same cadence ---------------------------------


@pytest.mark.parametrize(
    "strategy", [{}, {"strategy": "blueGreen"}, {"shadow": {"minAgreement": 0.9}}]
)
def test_min_interval_holds_for_every_strategy(strategy: dict[str, Any]) -> None:
    assert broken(spec({**strategy, "interval": "10s"}), minInterval="30s") == [
        "policy production, rule minInterval: spec.rollout.interval is 10s; at least 30s required"
    ]
    assert broken(spec({**strategy, "interval": "30s"}), minInterval="30s") == []


# ---- a required check is the built-in it names ---------------------------------------------


ERROR_RATE = {"name": "error-rate", "max": 0.01}
CUSTOM_ERROR_RATE = {"name": "error-rate", "query": "vector(0)", "max": 0.01}
FLOOR = [CheckSpec(name="error-rate", max=0.01)]


@pytest.mark.parametrize("strategy", [{}, {"strategy": "blueGreen"}])
def test_a_same_named_custom_query_does_not_meet_a_required_check(
    strategy: dict[str, Any],
) -> None:
    found = broken(spec({**strategy, "checks": [CUSTOM_ERROR_RATE]}), requiredChecks=["error-rate"])
    assert found == [
        "policy production, rule requiredChecks: spec.rollout.checks[0] (error-rate) is a custom "
        "query; check error-rate is required as the built-in error-rate, which a check of the "
        "same name with its own query is not; leave out query to run the built-in"
    ]


@pytest.mark.parametrize("strategy", [{}, {"strategy": "blueGreen"}])
def test_the_built_in_meets_it_beside_a_custom_query_of_the_same_name(
    strategy: dict[str, Any],
) -> None:
    both = spec({**strategy, "checks": [CUSTOM_ERROR_RATE, ERROR_RATE]})
    assert broken(both, FLOOR, requiredChecks=["error-rate"]) == []


def test_one_built_in_within_the_floor_meets_it() -> None:
    loose = {"name": "error-rate", "max": 0.5}
    assert broken(spec({"checks": [loose, ERROR_RATE]}), FLOOR, requiredChecks=["error-rate"]) == []
    found = broken(spec({"checks": [loose, loose]}), FLOOR, requiredChecks=["error-rate"])
    assert found == [
        f"policy production, rule requiredChecks: spec.rollout.checks[{i}] (error-rate) is "
        "max=0.5; bounds may only tighten: max must be at most 0.01"
        for i in (0, 1)
    ]


def test_a_missing_required_check_is_named() -> None:
    assert broken(spec({"strategy": "blueGreen"}), requiredChecks=["error-rate"]) == [
        "policy production, rule requiredChecks: spec.rollout.checks is without error-rate; "
        "check error-rate is required"
    ]


@given(
    st.sampled_from(["max", "min", "maxIncrease"]),
    st.floats(0, 10, allow_nan=False),
    st.floats(0, 10, allow_nan=False),
)
def test_a_built_in_breaks_the_floor_exactly_when_it_loosens_it(
    bound: str, floor_value: float, own_value: float
) -> None:
    name = "request-count"
    floor = CheckSpec.model_validate({"name": name, bound: floor_value})
    own = spec({"checks": [{"name": name, bound: own_value}]})
    looser = own_value < floor_value if bound == "min" else own_value > floor_value
    found = broken(own, [floor], requiredChecks=[name])
    assert bool(found) is looser
    if looser:
        assert "bounds may only tighten" in found[0]


# ---- a shadow's checks are checks the rollout runs -----------------------------------------


@pytest.mark.parametrize("strategy", [{}, {"strategy": "blueGreen"}])
@pytest.mark.parametrize(
    ("shadow", "required", "met"),
    [
        ({"minAgreement": 0.98}, "shadow-agreement", True),
        ({"maxMeanAbsDiff": 0.05}, "shadow-agreement", False),
        ({"maxMeanAbsDiff": 0.05}, "shadow-mean-abs-diff", True),
        ({"minAgreement": 0.98}, "shadow-error-rate", True),
        (None, "shadow-agreement", False),
    ],
)
def test_a_shadows_own_checks_meet_a_required_check(
    strategy: dict[str, Any], shadow: dict[str, Any] | None, required: str, met: bool
) -> None:
    rollout = {**strategy, **({"shadow": shadow} if shadow else {})}
    found = broken(spec(rollout), requiredChecks=[required])
    assert (found == []) is met, found


def test_a_missing_shadow_check_says_a_shadow_runs_it() -> None:
    assert sorted(SHADOW_CHECK_NAMES) == [
        "shadow-agreement",
        "shadow-error-rate",
        "shadow-mean-abs-diff",
    ]
    found = broken(spec({"checks": [ERROR_RATE]}), requiredChecks=["shadow-error-rate"])
    assert found == [
        "policy production, rule requiredChecks: spec.rollout.checks is without "
        "shadow-error-rate; check shadow-error-rate is required; a shadow (spec.rollout.shadow) "
        "runs it when its bounds call for it"
    ]


def test_checks_run_are_the_rollouts_and_its_shadows() -> None:
    rollout = spec({"checks": [ERROR_RATE], "shadow": {"minAgreement": 0.9}}).rollout
    run = checks_run(rollout)
    assert [field for field, _ in run] == ["spec.rollout.checks[0]"] + ["spec.rollout.shadow"] * 2
    assert [c for _, c in run][1:] == shadow_checks(rollout.shadow)


def test_a_shadow_may_only_tighten_the_defaults_shadow() -> None:
    strict = policy(
        defaults={"rollout": {"shadow": {"minAgreement": 0.99, "maxErrorRate": 0.01}}},
        rules={"requiredChecks": ["shadow-agreement", "shadow-error-rate"]},
    )
    assert strict.problem is None
    own = {"model": MODEL, "rollout": {"shadow": {"minAgreement": 0.5, "maxErrorRate": 0.2}}}
    assert govern(own, "rev2", ModelDeploymentStatus(), strict).violations == [
        "policy production, rule requiredChecks: spec.rollout.shadow (shadow-agreement) is "
        "min=0.5; bounds may only tighten: min must be at least 0.99",
        "policy production, rule requiredChecks: spec.rollout.shadow (shadow-error-rate) is "
        "max=0.2; bounds may only tighten: max must be at most 0.01",
    ]
    tighter = {"model": MODEL, "rollout": {"shadow": {"minAgreement": 0.999}}}
    assert govern(tighter, "rev2", ModelDeploymentStatus(), strict).violations == []


def test_floor_checks_are_the_defaults_checks_and_their_shadows() -> None:
    defaults = parse_policy_spec(
        {"defaults": {"rollout": {"checks": [ERROR_RATE], "shadow": {"maxMeanAbsDiff": 0.1}}}}
    ).defaults
    assert defaults is not None
    assert [c.name for c in floor_checks(defaults.rollout)] == [
        "error-rate",
        "shadow-error-rate",
        "shadow-mean-abs-diff",
    ]
    assert floor_checks(None) == []


# ---- a policy no rollout could keep is itself refused ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"defaults": {"rollout": {"strategy": "blueGreen"}}, "rules": {"maxStepWeight": 25}},
         "spec.defaults.rollout: strategy blueGreen breaks the policy's own maxStepWeight 25: "
         "blue/green switches all client traffic to the new revision in one step, a step of 100"),
        ({"defaults": {"rollout": {"stepWeights": [100]}}, "rules": {"maxStepWeight": 25}},
         "spec.defaults.rollout: step weight 100 breaks the policy's own maxStepWeight 25: a "
         "first step of 100 switches all client traffic to the new revision"),
        ({"rules": {"requiredChecks": ["accuracy"]}},
         "spec.rules.requiredChecks: accuracy is no built-in check, and a required check must "
         "be one: " + ", ".join(BUILTIN_CHECK_NAMES)),
        ({"defaults": {"rollout": {"checks": [CUSTOM_ERROR_RATE]}},
          "rules": {"requiredChecks": ["error-rate"]}},
         "spec.defaults.rollout.checks[0] (error-rate): a custom query under the name of a "
         "required check breaks the policy's own requiredChecks, which asks for the built-in "
         "error-rate"),
    ],
)  # fmt: skip
def test_a_policy_whose_own_rollouts_break_its_rules_is_unusable(
    raw: dict[str, Any], problem: str
) -> None:
    assert policy_problems(parse_policy_spec(raw)) == [problem]
    read = policy(**raw)
    assert read.spec is None and read.problem == f"policy production is invalid: {problem}"
    assert refusal_for_policy({"metadata": {"name": "production"}, "spec": raw}) == (
        f"policy production is invalid: {problem}"
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"defaults": {"rollout": {"strategy": "blueGreen"}}, "rules": {"maxStepWeight": 100}},
        {"defaults": {"rollout": {"stepWeights": [10, 100]}}, "rules": {"maxStepWeight": 10}},
        # The defaults leave the steps to each ModelDeployment (or the state machine): a
        # ModelDeployment can still comply with steps of its own.
        {"defaults": {"rollout": {"strategy": "canary"}}, "rules": {"maxStepWeight": 5}},
        {"defaults": {"rollout": {"interval": "1m"}}, "rules": {"maxStepWeight": 5}},
        {"defaults": {"rollout": {"checks": [CUSTOM_ERROR_RATE]}}},
        {"rules": {"requiredChecks": list(BUILTIN_CHECK_NAMES)}},
    ],
)
def test_a_policy_its_rollouts_can_keep_is_usable(raw: dict[str, Any]) -> None:
    assert policy_problems(parse_policy_spec(raw)) == []


# ---- admission and the operator judge alike --------------------------------------------------


PRODUCTION = policy(
    namespaceSelector={"matchLabels": {"tier": "production"}},
    rules={"maxStepWeight": 25, "requiredChecks": ["error-rate"]},
)


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        ({"strategy": "blueGreen", "stepWeights": [5], "checks": [ERROR_RATE]},
         BLUE_GREEN_25 + " (spec.rollout.stepWeights is not used by blue/green); no step may "
         "exceed 25"),
        ({"stepWeights": [5, 25], "checks": [CUSTOM_ERROR_RATE]},
         "policy production, rule requiredChecks: spec.rollout.checks[0] (error-rate) is a "
         "custom query; check error-rate is required as the built-in error-rate"),
        ({"checks": [ERROR_RATE]},
         "policy production, rule maxStepWeight: spec.rollout.stepWeights (default) is 50"),
    ],
)  # fmt: skip
def test_admission_and_the_operator_refuse_alike(rollout: dict[str, Any], expected: str) -> None:
    raw = {"model": MODEL, "rollout": rollout}
    refusal = refusal_for_model_deployment(
        {"metadata": {"name": "iris"}, "spec": raw}, [PRODUCTION], {"tier": "production"}
    )
    assert refusal is not None and refusal.startswith("ModelDeployment iris: " + expected)
    governed = govern(raw, "rev2", ModelDeploymentStatus(), PRODUCTION)
    assert governed.blocked and governed.violations[0].startswith(expected)
    assert refusal == "ModelDeployment iris: " + "; ".join(governed.violations)


def test_a_compliant_canary_is_admitted_and_run() -> None:
    raw = {"model": MODEL, "rollout": {"stepWeights": [5, 25, 100], "checks": [ERROR_RATE]}}
    obj = {"metadata": {"name": "iris"}, "spec": raw}
    assert refusal_for_model_deployment(obj, [PRODUCTION], {"tier": "production"}) is None
    assert govern(raw, "rev2", ModelDeploymentStatus(), PRODUCTION).violations == []


def test_blue_green_from_the_policys_defaults_is_judged_too() -> None:
    # A policy may allow blue/green in its defaults (maxStepWeight 100) while another, stricter
    # one refuses the same merged spec.
    lenient = policy(defaults={"rollout": {"strategy": "blueGreen"}}, rules={"maxStepWeight": 100})
    assert lenient.problem is None
    merged = govern({"model": MODEL, "rollout": {}}, "rev2", ModelDeploymentStatus(), lenient)
    assert merged.spec.rollout is not None and merged.spec.rollout.strategy == "blueGreen"
    assert merged.violations == []
    assert broken(merged.spec, maxStepWeight=50)[0].startswith(
        "policy production, rule maxStepWeight: spec.rollout.strategy is blueGreen"
    )
