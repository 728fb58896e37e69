from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from modeldeploy.api.spec import ModelDeploymentSpec, parse_duration, parse_spec

SHA = "a" * 64


def valid_spec(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "model": {
            "name": "fraud",
            "version": "v3",
            "uri": "s3://models/fraud.joblib",
            "format": "sklearn",
        },
        "replicas": 2,
    }
    raw.update(overrides)
    return raw


def test_minimal_spec_gets_defaults() -> None:
    spec = parse_spec(valid_spec())
    assert spec.serving.port == 8080
    assert spec.serving.image.startswith("modeldeploy/serving")
    assert spec.rollout is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"model": {"name": "m", "uri": "file:///m", "format": "sklearn"}}, "version"),
        ({"model": {"name": "m", "version": "1", "uri": "file:///m", "format": "pmml"}}, "format"),
        (valid_spec(replicas=-1), "replicas"),
        (valid_spec(model={**valid_spec()["model"], "sha256": "xyz"}), "sha256"),
        (valid_spec(model={**valid_spec()["model"], "uri": "ftp://x/m"}), "uri"),
        (valid_spec(serving={"port": 70000}), "port"),
        (valid_spec(serving={"env": [{"name": "MODEL_URI", "value": "x"}]}), "MODEL_"),
        (valid_spec(serving={"startupTimeout": "soon"}), "startupTimeout"),
        (valid_spec(rollout={"stepWeights": [50, 20]}), "rise"),
        (valid_spec(rollout={"steps": [{"weight": 10}], "stepWeights": [10]}), "not both"),
        (valid_spec(rollout={"checks": [{"name": "error-rate"}]}), "bound"),
        (valid_spec(rollout={"traffic": {"router": "gateway-api"}}), "httpRoute"),
        (valid_spec(rollout={"stepWeights": [0]}), "stepWeights"),
        (valid_spec(unknown=1), "unknown"),
    ],
)
def test_invalid_specs_name_the_problem(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_spec(raw)
    assert field in str(error.value)


def test_rollout_short_form_resolves_to_steps() -> None:
    spec = parse_spec(valid_spec(rollout={"stepWeights": [5, 25, 50]}))
    assert spec.rollout is not None
    assert [s.weight for s in spec.rollout.resolved_steps()] == [5, 25, 50]


def test_full_rollout_section_round_trips() -> None:
    rollout = {
        "steps": [{"weight": 5, "pause": "1m"}, {"weight": 25}, {"weight": 50}],
        "interval": "30s",
        "failureLimit": 0,
        "inconclusiveLimit": 3,
        "progressDeadline": "10m",
        "traffic": {"router": "gateway-api", "httpRoute": {"name": "fraud"}},
        "checks": [
            {"name": "error-rate", "max": 0.01},
            {"name": "latency-p95", "maxIncrease": 0.1},
            {"name": "business", "query": "sum(rate(x[1m]))", "min": 5},
        ],
    }
    spec = parse_spec(valid_spec(rollout=rollout, model={**valid_spec()["model"], "sha256": SHA}))
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert ModelDeploymentSpec.model_validate(dumped) == spec
    assert dumped["rollout"]["traffic"]["httpRoute"] == {"name": "fraud"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m", 60), ("1m30s", 90), ("250ms", 0.25), ("2h", 7200), ("1.5s", 1.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1d", "-1s", "1 m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4))
def test_duration_sum_of_parts(parts: list[int]) -> None:
    units = ["h", "m", "s", "ms"]
    text = "".join(f"{n}{u}" for n, u in zip(parts, units, strict=False))
    expected = sum(n * f for n, f in zip(parts, [3600, 60, 1, 0.001], strict=False))
    assert parse_duration(text) == pytest.approx(expected)
