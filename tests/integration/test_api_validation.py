"""The API server itself rejects bad ModelDeployments, naming the field."""

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.fixtures import GROUP, PLURAL, VERSION, Cluster

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
