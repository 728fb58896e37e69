"""What the CRD's CEL rules refuse, refused again by the pure validation in the same words: a
cpu or memory request above its limit, a zero duration the rollout waits on, two checks of one
name. The admission webhook and the status message say what the API server says."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.quantity import quantity_amount
from modeldeploy.api.spec import (
    DUPLICATE_CHECK_NAMES,
    ZERO_INTERVAL,
    ZERO_PROGRESS_DEADLINE,
    ZERO_SMOKE_TIMEOUT,
    request_above_limit,
)
from modeldeploy.policy.rules import policy_problems
from modeldeploy.policy.select import read_policy
from modeldeploy.tools import crdgen
from modeldeploy.validation import InvalidSpec, load_spec

MODEL = {"name": "iris", "version": "v1", "uri": "s3://models/iris", "format": "sklearn"}
SMOKE_REQUEST = {
    "name": "known",
    "inputs": [{"name": "input-0", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}],
    "expect": {"labels": ["1"]},
}


def spec(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, **fields}


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(InvalidSpec) as error:
        load_spec(raw)
    return str(error.value)


def resources(requests: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    return {"resources": {"requests": requests, "limits": limits}}


# --- quantities, as the API server reads them ---------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        ("100m", "0.1"),
        ("1", "1"),
        (2, "2"),
        ("0", "0"),
        ("000", "0"),
        ("+1", "1"),
        (".5", "0.5"),
        ("1.", "1"),
        ("0.5", "0.5"),
        ("1500m", "1.5"),
        ("1k", "1000"),
        ("1E", "1000000000000000000"),  # exa, not an exponent
        ("1e3", "1000"),
        ("1E5", "100000"),
        ("2.5e-3", "0.0025"),
        ("1n", "0.000000001"),
        ("512Mi", "536870912"),
        ("2Gi", "2147483648"),
        ("1.5Gi", "1610612736"),
        ("1Ki", "1024"),
        # Below a billionth, rounded up: some resource, never none.
        ("0.1n", "0.000000001"),
        ("1e-10", "0.000000001"),
        ("1.0000000001", "1.000000001"),
        # A binary amount is kept in an int64.
        ("8Ei", str(2**63 - 1)),
        ("9Ei", str(2**63 - 1)),
        ("9E", "9000000000000000000"),
        ("1e999999999", "1e999999999"),
    ],
)
def test_a_quantity_is_the_amount_kubernetes_reads(quantity: int | str, amount: str) -> None:
    assert quantity_amount(quantity) == Decimal(amount)


@pytest.mark.parametrize("quantity", ["", "lots", "1e", "1e1.5", "1ki", "1 Gi", "Gi", "1Gi2"])
def test_what_kubernetes_cannot_read_has_no_amount(quantity: str) -> None:
    assert quantity_amount(quantity) is None


BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
DECIMAL = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(1000), "M": Decimal(10**6)}


@given(st.integers(0, 10**6), st.integers(0, 999), st.sampled_from([*BINARY, *DECIMAL]))
def test_every_suffix_scales_the_number_exactly(whole: int, thousandths: int, suffix: str) -> None:
    number = Decimal(whole) + Decimal(thousandths) / 1000
    if suffix in BINARY:
        expected = min(number * BINARY[suffix], Decimal(2**63 - 1))
    else:
        expected = number * DECIMAL[suffix]
    assert quantity_amount(f"{whole}.{thousandths:03d}{suffix}") == expected


# --- requests and limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "limits", "resource"),
    [
        ({"cpu": "2"}, {"cpu": "1500m"}, "cpu"),
        ({"cpu": 2}, {"cpu": 1}, "cpu"),
        ({"cpu": "1001m"}, {"cpu": 1}, "cpu"),
        ({"memory": "1Gi"}, {"memory": "1000Mi"}, "memory"),
        ({"memory": "1.1G"}, {"memory": "1Gi"}, "memory"),
        ({"memory": "1073741825"}, {"memory": "1Gi"}, "memory"),
    ],
)
def test_a_request_above_its_limit_is_refused(
    requests: dict[str, Any], limits: dict[str, Any], resource: str
) -> None:
    said = refusal(spec(serving=resources(requests, limits)))
    assert said.startswith(f"spec.serving.resources: {request_above_limit(resource)} (")


@pytest.mark.parametrize(
    ("requests", "limits"),
    [
        ({"cpu": "1000m", "memory": "1Gi"}, {"cpu": 1, "memory": "1073741824"}),
        ({"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
        # Only one side set: Kubernetes takes the limit for the request.
        ({"cpu": "4"}, {"memory": "1Gi"}),
        ({}, {"cpu": "100m"}),
        # Other resources are not compared here.
        ({"ephemeral-storage": "2Gi"}, {"ephemeral-storage": "1Gi"}),
        # One Kubernetes cannot read is its pattern's to refuse, as the CEL rule leaves it.
        ({"cpu": "1e1.5"}, {"cpu": "1"}),
    ],
)
def test_a_request_within_its_limit_is_taken(
    requests: dict[str, Any], limits: dict[str, Any]
) -> None:
    load_spec(spec(serving=resources(requests, limits)))


def test_both_resources_above_their_limits_are_both_named() -> None:
    said = refusal(
        spec(serving=resources({"cpu": 2, "memory": "2Gi"}, {"cpu": 1, "memory": "1Gi"}))
    )
    assert request_above_limit("cpu") in said and request_above_limit("memory") in said


# --- durations and check names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rollout", "field", "message"),
    [
        ({"interval": "0s"}, "interval (0s)", ZERO_INTERVAL),
        ({"interval": "0m0.0s"}, "interval (0m0.0s)", ZERO_INTERVAL),
        ({"progressDeadline": "0m"}, "progressDeadline (0m)", ZERO_PROGRESS_DEADLINE),
        (
            {"smokeTest": {"requests": [SMOKE_REQUEST], "timeout": "0ms"}},
            "smokeTest.timeout (0ms)",
            ZERO_SMOKE_TIMEOUT,
        ),
    ],
)
def test_a_zero_duration_the_rollout_waits_on_is_refused(
    rollout: dict[str, Any], field: str, message: str
) -> None:
    assert refusal(spec(rollout=rollout)) == f"spec.rollout.{field}: {message}"


@pytest.mark.parametrize(
    "rollout",
    [
        {"interval": "1ms", "progressDeadline": "0.5s"},
        {"smokeTest": {"requests": [SMOKE_REQUEST], "timeout": "10ms"}},
        # Zero is a meaning of its own here: scale down, or keep no undo, at once.
        {"scaleDownDelay": "0s", "rollbackWindow": "0s"},
        {"steps": [{"weight": 10, "pause": "0s"}]},
    ],
)
def test_a_positive_duration_or_one_where_zero_means_something_is_taken(
    rollout: dict[str, Any],
) -> None:
    load_spec(spec(rollout=rollout))


def test_two_checks_of_one_name_are_refused_naming_it() -> None:
    checks = [
        {"name": "error-rate", "max": 0.01},
        {"name": "latency-p95", "max": 0.5},
        {"name": "error-rate", "max": 0.05},
    ]
    assert refusal(spec(rollout={"checks": checks})) == (
        f"spec.rollout.checks: {DUPLICATE_CHECK_NAMES} (error-rate more than once)"
    )
    load_spec(spec(rollout={"checks": checks[:2]}))


def test_every_refusal_of_a_spec_is_said_at_once() -> None:
    said = refusal(
        spec(
            serving=resources({"cpu": 2}, {"cpu": 1}),
            rollout={"interval": "0s", "checks": [{"name": "error-rate", "max": 1}] * 2},
        )
    )
    for message in (request_above_limit("cpu"), ZERO_INTERVAL, DUPLICATE_CHECK_NAMES):
        assert message in said


# --- a policy's defaults ------------------------------------------------------------------


def test_a_policy_whose_defaults_the_schema_refuses_is_invalid() -> None:
    policy = read_policy(
        {
            "metadata": {"name": "production", "generation": 1},
            "spec": {
                "defaults": {
                    "rollout": {
                        "interval": "0s",
                        "checks": [{"name": "error-rate", "max": 0.01}] * 2,
                    }
                }
            },
        }
    )
    assert policy.problem is not None and policy.spec is None
    assert f"spec.defaults.rollout.interval (0s): {ZERO_INTERVAL}" in policy.problem
    assert f"spec.defaults.rollout.checks: {DUPLICATE_CHECK_NAMES}" in policy.problem


def test_a_policy_with_sound_defaults_has_no_problem() -> None:
    policy = read_policy(
        {
            "metadata": {"name": "production", "generation": 1},
            "spec": {"defaults": {"rollout": {"interval": "1m", "progressDeadline": "5m"}}},
        }
    )
    assert policy.spec is not None and policy_problems(policy.spec) == []


# --- the CRD says the same ----------------------------------------------------------------


def _rules(node: Any, path: str = "") -> dict[str, list[str]]:
    """Every CEL message of a schema, by the path of the node that carries it."""
    found: dict[str, list[str]] = {}
    if isinstance(node, dict):
        for rule in node.get("x-kubernetes-validations", []):
            found.setdefault(path, []).append(rule["message"])
        for key, value in node.items():
            if key == "properties":
                for name, prop in value.items():
                    for at, messages in _rules(prop, f"{path}.{name}").items():
                        found.setdefault(at, []).extend(messages)
            elif key == "items":
                for at, messages in _rules(value, f"{path}[]").items():
                    found.setdefault(at, []).extend(messages)
    return found


@pytest.mark.parametrize(
    ("crd", "root", "serving"),
    [
        (crdgen.model_deployment_crd, ".spec.rollout", ".spec.serving"),
        (crdgen.cluster_rollout_policy_crd, ".spec.defaults.rollout", None),
    ],
)
def test_the_crd_states_each_rule_in_the_same_words(
    crd: Any, root: str, serving: str | None
) -> None:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = _rules(schema)
    assert ZERO_INTERVAL in rules[f"{root}.interval"]
    assert ZERO_PROGRESS_DEADLINE in rules[f"{root}.progressDeadline"]
    assert ZERO_SMOKE_TIMEOUT in rules[f"{root}.smokeTest.timeout"]
    assert DUPLICATE_CHECK_NAMES in rules[f"{root}.checks"]
    if serving is not None:
        limits = rules[f"{serving}.resources"]
        assert [request_above_limit("cpu"), request_above_limit("memory")] == limits
