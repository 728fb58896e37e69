"""Each rule of a policy, and what makes a policy itself unusable."""

from typing import Any

import pytest
from pydantic import ValidationError

from modeldeploy.api.policy import ClusterRolloutPolicySpec, PolicyRules, parse_policy_spec
from modeldeploy.api.spec import CheckSpec, parse_spec
from modeldeploy.policy.rules import policy_problems, violations

SHA = "a" * 64
MODEL = {"name": "iris", "version": "v1", "uri": "s3://models-prod/iris", "format": "sklearn"}
ERROR_RATE_FLOOR = [CheckSpec(name="error-rate", max=0.01)]


def spec(rollout: dict[str, Any] | None = None, **fields: Any) -> Any:
    raw: dict[str, Any] = {"model": {**MODEL, **fields.pop("model", {})}, **fields}
    if rollout is not None:
        raw["rollout"] = rollout
    return parse_spec(raw)


def broken(model_spec: Any, floors: list[CheckSpec] | None = None, **rules: Any) -> list[str]:
    found = violations(model_spec, "production", PolicyRules.model_validate(rules), floors)
    return [str(v) for v in found]


def test_a_compliant_spec_breaks_nothing() -> None:
    compliant = spec(
        {"stepWeights": [5, 25, 100], "interval": "1m",
         "checks": [{"name": "error-rate", "max": 0.005}]},
        model={"sha256": SHA},
        replicas=3,
    )  # fmt: skip
    assert (
        broken(
            compliant,
            ERROR_RATE_FLOOR,
            requireRollout=True,
            requireSha256=True,
            requiredChecks=["error-rate"],
            maxStepWeight=25,
            minInterval="30s",
            allowedModelUris=["s3://models-prod/"],
            allowedImages=["modeldeploy/"],
            maxReplicas=3,
        )
        == []
    )


@pytest.mark.parametrize(
    ("model_spec", "rules", "expected"),
    [
        (spec(), {"requireRollout": True},
         "policy production, rule requireRollout: spec.rollout is absent"),
        (spec(), {"requireSha256": True},
         "rule requireSha256: spec.model.sha256 is absent"),
        (spec(replicas=51), {"maxReplicas": 50},
         "rule maxReplicas: spec.replicas is 51; at most 50 allowed"),
        (spec(autoscaling={"maxReplicas": 80, "targets": {"cpuUtilization": 70}}),
         {"maxReplicas": 50},
         "rule maxReplicas: spec.autoscaling.maxReplicas is 80; at most 50 allowed"),
        (spec(model={"uri": "s3://scratch/iris"}), {"allowedModelUris": ["s3://models-prod/"]},
         "rule allowedModelUris: spec.model.uri is s3://scratch/iris; inside none of the allowed "
         "locations: s3://models-prod/"),
        (spec(serving={"image": "docker.io/x/serving:1"}), {"allowedImages": ["registry/"]},
         "rule allowedImages: spec.serving.image is docker.io/x/serving:1"),
        (spec({"stepWeights": [10, 50]}), {"maxStepWeight": 25},
         "rule maxStepWeight: spec.rollout.stepWeights[1] is 50; no step may exceed 25"),
        (spec({"steps": [{"weight": 30}]}), {"maxStepWeight": 25},
         "rule maxStepWeight: spec.rollout.steps[0].weight is 30"),
        (spec({}), {"maxStepWeight": 25},
         "rule maxStepWeight: spec.rollout.stepWeights (default) is 50"),
        (spec({"interval": "10s"}), {"minInterval": "30s"},
         "rule minInterval: spec.rollout.interval is 10s; at least 30s required"),
        (spec({"checks": [{"name": "latency-p95", "max": 1}]}), {"requiredChecks": ["error-rate"]},
         "rule requiredChecks: spec.rollout.checks is without error-rate; check error-rate is "
         "required"),
    ],
)  # fmt: skip
def test_each_rule_names_the_policy_rule_field_and_value(
    model_spec: Any, rules: dict[str, Any], expected: str
) -> None:
    found = broken(model_spec, **rules)
    assert len(found) == 1 and expected in found[0], found


def test_the_promotion_step_is_not_a_step_above_the_largest() -> None:
    assert broken(spec({"stepWeights": [25, 100]}), maxStepWeight=25) == []


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ({"name": "error-rate", "max": 0.05}, "max must be at most 0.01"),
        ({"name": "error-rate", "min": 0}, "max must be at most 0.01"),
    ],
)  # fmt: skip
def test_a_required_check_may_only_tighten(check: dict[str, Any], problem: str) -> None:
    found = broken(spec({"checks": [check]}), ERROR_RATE_FLOOR, requiredChecks=["error-rate"])
    assert len(found) == 1 and "bounds may only tighten" in found[0] and problem in found[0]


def test_a_custom_query_under_a_required_name_is_not_the_required_check() -> None:
    own = spec({"checks": [{"name": "error-rate", "query": "vector(0)", "max": 0.001}]})
    for floors in (ERROR_RATE_FLOOR, None):
        assert broken(own, floors, requiredChecks=["error-rate"]) == [
            "policy production, rule requiredChecks: spec.rollout.checks[0] (error-rate) is a "
            "custom query; check error-rate is required as the built-in error-rate, which a check "
            "of the same name with its own query is not; leave out query to run the built-in"
        ]


def test_floors_on_min_and_max_increase() -> None:
    floors = [
        CheckSpec(name="request-count", min=100),
        CheckSpec(name="latency-p95", maxIncrease=0.1),
    ]
    own = spec({"checks": [{"name": "request-count", "min": 50},
                           {"name": "latency-p95", "maxIncrease": 0.5}]})  # fmt: skip
    found = broken(own, floors, requiredChecks=["request-count", "latency-p95"])
    assert any("min must be at least 100" in v for v in found)
    assert any("maxIncrease must be at most 0.1" in v for v in found)


def test_every_broken_rule_is_reported() -> None:
    found = broken(spec(replicas=9), requireRollout=True, requireSha256=True, maxReplicas=2)
    assert [v.split(",")[1].split(":")[0].strip() for v in found] == [
        "rule requireRollout", "rule requireSha256", "rule maxReplicas",
    ]  # fmt: skip


def policy(**raw: Any) -> ClusterRolloutPolicySpec:
    return parse_policy_spec(raw)


def test_defaults_that_break_the_policys_own_rules_are_problems() -> None:
    problems = policy_problems(
        policy(
            defaults={"rollout": {"stepWeights": [10, 50], "interval": "10s"}},
            rules={"maxStepWeight": 25, "minInterval": "30s"},
        )
    )
    assert problems == [
        "spec.defaults.rollout: step weight 50 breaks the policy's own maxStepWeight 25",
        "spec.defaults.rollout.interval 10s breaks the policy's own minInterval 30s",
    ]


def test_a_default_check_that_could_never_run_is_a_problem() -> None:
    problems = policy_problems(
        policy(defaults={"rollout": {"checks": [{"name": "q", "query": "sum(", "max": 1}]}})
    )
    assert len(problems) == 1 and "spec.defaults.rollout.checks[0] (q)" in problems[0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"defaults": {"rollout": {"stepWeights": [50, 25]}}}, "step weights must rise"),
        ({"defaults": {"rollout": {"steps": [{"weight": 5}], "stepWeights": [5]}}},
         "use steps or stepWeights, not both"),
        ({"defaults": {"rollout": {"checks": [{"name": "accuracy", "min": 1}]}}},
         "must name a built-in"),
        ({"namespaceSelector": {"matchExpressions": [{"key": "t", "operator": "In"}]}},
         "operator In needs values"),
        ({"notifications": [{"name": "n", "webhook": {}}]},
         "exactly one of url, urlFrom must be set"),
        ({"rules": {"maxStepWeight": 0}}, "greater than or equal to 1"),
        ({"priority": "high"}, "valid integer"),
    ],
)  # fmt: skip
def test_an_invalid_policy_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(**raw)
