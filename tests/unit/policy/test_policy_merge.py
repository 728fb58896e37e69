"""A policy's defaults fill what a ModelDeployment leaves out, and nothing else."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.policy import PolicyDefaults
from modeldeploy.api.spec import parse_spec
from modeldeploy.policy.merge import apply_defaults

MODEL = {"name": "iris", "version": "v1", "uri": "s3://m/iris", "format": "sklearn"}
DEFAULTS = PolicyDefaults.model_validate(
    {
        "rollout": {
            "stepWeights": [5, 25, 50],
            "interval": "1m",
            "traffic": {"router": "replicas"},
            "checks": [{"name": "error-rate", "max": 0.01}],
        }
    }
)


def test_a_spec_without_rollout_gets_the_policys() -> None:
    merged = apply_defaults({"model": MODEL}, DEFAULTS)
    assert merged["rollout"] == {
        "stepWeights": [5, 25, 50],
        "interval": "1m",
        "traffic": {"router": "replicas"},
        "checks": [{"name": "error-rate", "max": 0.01}],
    }
    assert parse_spec(merged).rollout is not None


def test_the_specs_own_fields_win_and_lists_are_whole_values() -> None:
    own_checks = [{"name": "latency-p95", "max": 0.2}]
    merged = apply_defaults(
        {"model": MODEL, "rollout": {"interval": "2m", "checks": own_checks}}, DEFAULTS
    )
    assert merged["rollout"]["interval"] == "2m"
    assert merged["rollout"]["checks"] == own_checks
    assert merged["rollout"]["stepWeights"] == [5, 25, 50]


def test_steps_replace_the_default_step_weights() -> None:
    merged = apply_defaults({"model": MODEL, "rollout": {"steps": [{"weight": 20}]}}, DEFAULTS)
    assert "stepWeights" not in merged["rollout"]
    assert parse_spec(merged).rollout is not None


def test_nested_objects_merge_key_by_key() -> None:
    own = {"traffic": {"router": "gateway-api", "httpRoute": {"name": "r"}}}
    merged = apply_defaults({"model": MODEL, "rollout": own}, DEFAULTS)
    assert merged["rollout"]["traffic"] == own["traffic"]


def test_no_defaults_leave_the_spec_as_it_is() -> None:
    spec: dict[str, Any] = {"model": MODEL}
    assert apply_defaults(spec, None) is spec
    assert apply_defaults(spec, PolicyDefaults()) is spec


rollout_fields = st.fixed_dictionaries(
    {},
    optional={
        "interval": st.sampled_from(["10s", "2m"]),
        "failureLimit": st.integers(0, 3),
        "stepWeights": st.sampled_from([[10], [20, 40]]),
        "steps": st.sampled_from([[{"weight": 30}]]),
        "checks": st.sampled_from([[], [{"name": "latency-p99", "max": 1.0}]]),
    },
).filter(lambda d: not ("steps" in d and "stepWeights" in d))


@given(rollout_fields)
def test_whatever_the_spec_sets_survives_and_the_result_is_a_valid_spec(
    own: dict[str, Any],
) -> None:
    merged = apply_defaults({"model": MODEL, "rollout": own}, DEFAULTS)
    for key, value in own.items():
        assert merged["rollout"][key] == value
    parse_spec(merged)
