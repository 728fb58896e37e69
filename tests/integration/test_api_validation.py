"""The API server itself rejects bad ModelDeployments, naming the field."""

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.fixtures import GROUP, PLURAL, VERSION, Cluster
from modeldeploy.api.spec import (
    DUPLICATE_CHECK_NAMES,
    ZERO_INTERVAL,
    ZERO_PROGRESS_DEADLINE,
    ZERO_SMOKE_TIMEOUT,
    request_above_limit,
)

pytestmark = pytest.mark.cluster


def model(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "fraud",
        "version": "v1",
        "uri": "file:///models/fraud.joblib",
        "format": "sklearn",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def resources(requests: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    return {"resources": {"requests": requests, "limits": limits}}


SMOKE_REQUEST = {
    "name": "known",
    "inputs": [{"name": "input-0", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}],
    "expect": {"labels": ["1"]},
}


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing-version", {"model": model(version=None)}, "spec.model.version: Required value"),
    ("unknown-format", {"model": model(format="pmml")}, "spec.model.format: Unsupported value"),
    ("negative-replicas", {"model": model(), "replicas": -1}, "spec.replicas"),
    ("bad-sha256", {"model": model(sha256="deadbeef")}, "spec.model.sha256"),
    ("bad-uri-scheme", {"model": model(uri="ftp://host/m")}, "spec.model.uri"),
    ("port-out-of-range", {"model": model(), "serving": {"port": 70000}}, "spec.serving.port"),
    (
        "reserved-env",
        {"model": model(), "serving": {"env": [{"name": "MODEL_URI", "value": "x"}]}},
        "MODEL_ are set by the operator",
    ),
    (
        "bad-duration",
        {"model": model(), "serving": {"startupTimeout": "soon"}},
        "spec.serving.startupTimeout",
    ),
    (
        "falling-step-weights",
        {"model": model(), "rollout": {"stepWeights": [50, 20]}},
        "stepWeights must rise",
    ),
    (
        "steps-and-step-weights",
        {"model": model(), "rollout": {"steps": [{"weight": 5}], "stepWeights": [5]}},
        "use steps or stepWeights, not both",
    ),
    (
        "check-without-bound",
        {"model": model(), "rollout": {"checks": [{"name": "error-rate"}]}},
        "a check needs a bound",
    ),
    (
        "gateway-without-route",
        {"model": model(), "rollout": {"traffic": {"router": "gateway-api"}}},
        "router gateway-api needs httpRoute",
    ),
    (
        "weight-over-100",
        {"model": model(), "rollout": {"stepWeights": [150]}},
        "spec.rollout.stepWeights",
    ),
    (
        "bad-quantity",
        {"model": model(), "serving": {"resources": {"limits": {"memory": "lots"}}}},
        "spec.serving.resources.limits.memory",
    ),
    (
        "cpu-request-above-limit",
        {"model": model(), "serving": resources({"cpu": "2"}, {"cpu": "1500m"})},
        request_above_limit("cpu"),
    ),
    (
        "cpu-request-as-integer-above-limit",
        {"model": model(), "serving": resources({"cpu": 2}, {"cpu": "1"})},
        request_above_limit("cpu"),
    ),
    (
        "memory-request-above-limit",
        {"model": model(), "serving": resources({"memory": "1Gi"}, {"memory": "1000Mi"})},
        request_above_limit("memory"),
    ),
    (
        "memory-request-above-limit-across-units",
        {"model": model(), "serving": resources({"memory": "1.1G"}, {"memory": "1Gi"})},
        request_above_limit("memory"),
    ),
    ("zero-interval", {"model": model(), "rollout": {"interval": "0s"}}, ZERO_INTERVAL),
    (
        "zero-interval-in-parts",
        {"model": model(), "rollout": {"interval": "0m0.0s"}},
        ZERO_INTERVAL,
    ),
    (
        "zero-progress-deadline",
        {"model": model(), "rollout": {"progressDeadline": "0m"}},
        ZERO_PROGRESS_DEADLINE,
    ),
    (
        "zero-smoke-timeout",
        {
            "model": model(),
            "rollout": {"smokeTest": {"requests": [SMOKE_REQUEST], "timeout": "0ms"}},
        },
        ZERO_SMOKE_TIMEOUT,
    ),
    (
        "duplicate-check-names",
        {
            "model": model(),
            "rollout": {
                "checks": [{"name": "error-rate", "max": 0.01}, {"name": "error-rate", "max": 0.05}]
            },
        },
        DUPLICATE_CHECK_NAMES,
    ),
]


@pytest.mark.parametrize(("case", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid_object_is_rejected_naming_the_field(
    cluster: Cluster, crds: None, namespace: str, case: str, spec: dict[str, Any], expected: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": case},
        "spec": spec,
    }
    with pytest.raises(ApiException) as error:
        cluster.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert error.value.status == 422, error.value.body
    assert expected in error.value.body


def test_unknown_field_is_rejected_with_strict_validation(
    cluster: Cluster, crds: None, namespace: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "typo"},
        "spec": {"model": model(), "replica": 3},
    }
    with pytest.raises(ApiException) as error:
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, field_validation="Strict"
        )
    assert error.value.status == 400
    assert 'unknown field "spec.replica"' in json.loads(error.value.body)["message"]


def test_name_too_long_for_derived_names(cluster: Cluster, crds: None, namespace: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "m" * 53},
        "spec": {"model": model()},
    }
    with pytest.raises(ApiException) as error:
        cluster.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert "metadata.name must be at most 52 characters" in error.value.body


def test_valid_object_is_accepted_with_rollout_section(
    cluster: Cluster, crds: None, namespace: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "ok"},
        "spec": {
            "model": model(sha256="a" * 64),
            "replicas": 0,
            "rollout": {
                "steps": [{"weight": 5, "pause": "1m"}, {"weight": 25}, {"weight": 50}],
                "interval": "30s",
                "checks": [{"name": "error-rate", "max": 0.01}],
            },
        },
    }
    created = cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    assert created["spec"]["rollout"]["steps"][0]["pause"] == "1m"


def test_requests_at_or_below_their_limits_in_other_units_are_accepted(
    cluster: Cluster, crds: None, namespace: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "at-the-limit"},
        "spec": {
            "model": model(),
            "serving": resources(
                {"cpu": "1000m", "memory": "1Gi"}, {"cpu": 1, "memory": "1073741824"}
            ),
            "rollout": {"interval": "0.5s", "progressDeadline": "1m"},
        },
    }
    created = cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    assert created["spec"]["serving"]["resources"]["limits"]["cpu"] == 1
