"""What a policy makes of one ModelDeployment: the spec run, the policy behind it, pinning."""

from typing import Any

import pytest

from modeldeploy.api.conditions import find_condition
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, revision_source
from modeldeploy.api.status import Condition, ModelDeploymentStatus, RolloutState, parse_status
from modeldeploy.api.webhook_targets import TargetRules
from modeldeploy.policy.govern import POLICY_VIOLATION, govern, record, served_spec
from modeldeploy.policy.select import Policy, read_policy
from modeldeploy.validation import InvalidSpec, load_spec

MODEL = {"name": "iris", "version": "v2", "uri": "s3://models-prod/iris", "format": "sklearn"}
NOW = "2026-11-30T00:00:00Z"


def none() -> ModelDeploymentStatus:
    return ModelDeploymentStatus()


def rollout_of(revision: str, **state: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus(
        rollout=RolloutState(revision=revision, version="v2", started_at=NOW, **state)
    )


def policy(generation: int = 1, **spec: Any) -> Policy:
    return read_policy({"metadata": {"name": "production", "generation": generation}, "spec": spec})


PRODUCTION = policy(
    defaults={"rollout": {"stepWeights": [5, 25], "interval": "1m",
                          "checks": [{"name": "error-rate", "max": 0.01}]}},
    rules={"maxStepWeight": 25, "requiredChecks": ["error-rate"]},
)  # fmt: skip


def test_the_defaults_fill_the_spec_and_the_policy_is_named() -> None:
    governed = govern({"model": MODEL}, "rev2", none(), PRODUCTION)
    assert governed.spec.rollout is not None
    assert [s.weight for s in governed.spec.rollout.resolved_steps()] == [5, 25]
    assert governed.violations == [] and not governed.blocked
    assert governed.ref is not None and governed.ref.name == "production"


def test_a_violation_blocks_anything_new() -> None:
    own = {"model": MODEL, "rollout": {"stepWeights": [50]}}
    governed = govern(own, "rev2", none(), PRODUCTION)
    assert governed.blocked
    assert governed.violations == [
        "policy production, rule maxStepWeight: spec.rollout.stepWeights[0] is 50; "
        "no step may exceed 25"
    ]


def test_a_rollout_in_flight_keeps_the_policy_it_started_under() -> None:
    started = record(rollout_of("rev2", step=0),
                     govern({"model": MODEL}, "rev2", none(), PRODUCTION), NOW, 1)  # fmt: skip
    assert started.wire()["rollout"]["policy"]["generation"] == 1
    # As stored and read back, which is what the next reconcile governs by.
    started = parse_status(started.wire())
    stricter = policy(
        generation=2,
        defaults={"rollout": {"stepWeights": [1, 2], "interval": "5m"}},
        rules={"maxStepWeight": 2},
    )
    governed = govern({"model": MODEL}, "rev2", started, stricter)
    assert governed.pinned and not governed.blocked
    assert governed.spec.rollout is not None and governed.spec.rollout.interval == "1m"
    assert governed.ref is not None and governed.ref.generation == 1
    # The next revision is judged by the policy of now.
    assert govern({"model": MODEL}, "rev3", started, stricter).spec.rollout.interval == "5m"  # type: ignore[union-attr]


def test_a_rollout_started_under_no_policy_stays_so() -> None:
    started = record(rollout_of("rev2"), govern({"model": MODEL}, "rev2", none(), None),
                     NOW, 1)  # fmt: skip
    assert "name" not in started.wire()["rollout"]["policy"]
    started = parse_status(started.wire())
    governed = govern({"model": MODEL}, "rev2", started, PRODUCTION)
    assert governed.pinned and governed.ref is None and governed.spec.rollout is None


def test_an_unusable_policy_blocks_and_says_why() -> None:
    broken = policy(rules={"maxStepWeight": 25}, defaults={"rollout": {"stepWeights": [60]}})
    governed = govern({"model": MODEL}, "rev2", none(), broken)
    assert governed.blocked
    assert governed.violations[0].startswith("policy production is invalid:")


def test_a_spec_the_defaults_make_invalid_is_refused() -> None:
    with_query = policy(defaults={"rollout": {"checks": [{"name": "q", "query": "up", "max": 1}]}})
    own = {"model": MODEL, "rollout": {"traffic": {"router": "gateway-api"}}}
    with pytest.raises(InvalidSpec, match="httpRoute"):
        govern(own, "rev2", none(), with_query)


def test_the_condition_says_compliant_violated_or_no_policy() -> None:
    def condition(governed: Any) -> Condition:
        found = find_condition(record(none(), governed, NOW, 1).conditions, POLICY_VIOLATION)
        assert found is not None
        return found

    assert condition(govern({"model": MODEL}, "r", none(), None)).reason == "NoPolicy"
    assert condition(govern({"model": MODEL}, "r", none(), PRODUCTION)).reason == "Compliant"
    violated = condition(govern({"model": MODEL, "replicas": 3, "rollout": {"stepWeights": [50]}},
                                "r", none(), PRODUCTION))  # fmt: skip
    assert violated.status == "True" and "maxStepWeight" in violated.message


def test_what_serves_is_what_a_blocked_object_keeps() -> None:
    assert served_spec(none()) is None
    source = revision_source(load_spec({"model": MODEL}))
    status = parse_status(
        {"stable": {"revision": "rev1", "version": "v2", "deployment": "iris-rev1",
                    "replicas": 4, "source": source}}
    )  # fmt: skip
    served = served_spec(status)
    assert served is not None
    assert served[1] == "rev1" and served[0].replicas == 4 and served[0].model.version == "v2"


def test_notification_targets_the_operator_allows_stay_allowed_under_a_policys_defaults() -> None:
    # The policy's defaults make the spec run a merged one: it is judged by the same rules as
    # the spec itself, so an in-cluster receiver the operator allows is not refused there.
    hook = {"name": "team", "webhook": {"url": "http://172.30.0.2:8080/hook"}}
    own = {"model": MODEL, "notifications": [hook]}
    allowing = TargetRules.parse(True)
    governed = govern(own, "rev2", none(), PRODUCTION, None, DEFAULT_SERVING_IMAGE, allowing)
    assert [n.name for n in governed.spec.notifications] == ["team"]
    with pytest.raises(InvalidSpec, match="private address"):
        govern(own, "rev2", none(), PRODUCTION, load_spec(own, DEFAULT_SERVING_IMAGE, allowing))
