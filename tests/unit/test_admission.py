"""Admission review: what is refused, and in which words."""

from typing import Any

from modeldeploy.api.spec import ZERO_INTERVAL, request_above_limit
from modeldeploy.policy.select import Policy, read_policy
from modeldeploy.shell.admission import review

MODEL = {"name": "iris", "version": "v1", "uri": "s3://models-prod/iris", "format": "sklearn"}
PRODUCTION = read_policy(
    {
        "metadata": {"name": "production", "generation": 1},
        "spec": {
            "namespaceSelector": {"matchLabels": {"tier": "production"}},
            "rules": {"maxStepWeight": 25, "allowedModelUris": ["s3://models-prod/"]},
        },
    }
)
PROD_LABELS = {"tier": "production"}


def request(
    obj: dict[str, Any],
    kind: str = "ModelDeployment",
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "uid": "u-1",
        "kind": {"group": "modeldeploy.io", "version": "v1alpha1", "kind": kind},
        "operation": operation,
        "namespace": "ml",
        "name": obj["metadata"]["name"],
        "object": obj,
    }
    if old is not None:
        inner["oldObject"] = old
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": inner}


def model_deployment(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "iris"}, "spec": {"model": MODEL, **spec}}


def answer(
    review_request: dict[str, Any],
    policies: list[Policy] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = review(review_request, lambda: policies or [], lambda _ns: labels or {})
    assert response["response"]["uid"] == "u-1"
    return dict(response["response"])


def test_a_valid_object_is_allowed() -> None:
    assert answer(request(model_deployment(rollout={"stepWeights": [10, 25]})))["allowed"]


def test_a_step_the_replicas_router_can_only_approximate_is_taken_with_a_warning() -> None:
    taken = answer(request(model_deployment(replicas=4, rollout={"stepWeights": [5, 50]})))
    assert taken["allowed"]
    (warning,) = taken["warnings"]
    assert "with 4 replicas step weight 5% is 25% (within 5 points from 10 replicas)" in warning
    exact = model_deployment(
        replicas=4,
        rollout={
            "stepWeights": [5, 50],
            "traffic": {"router": "gateway-api", "httpRoute": {"name": "r"}},
        },
    )
    assert "warnings" not in answer(request(exact))
    assert "warnings" not in answer(
        request(model_deployment(replicas=4, rollout={"stepWeights": [25, 50]}))
    )


def test_a_check_that_could_never_run_is_refused_with_its_field() -> None:
    bad = model_deployment(
        rollout={"checks": [{"name": "queue", "query": "sum(rate(q[1m])", "max": 1}]}
    )
    response = answer(request(bad))
    assert not response["allowed"]
    assert response["status"]["code"] == 422
    assert response["status"]["message"].startswith(
        "ModelDeployment iris: spec.rollout.checks[0] (queue): query is not valid PromQL"
    )


def test_what_the_crds_cel_refuses_is_refused_in_the_same_words() -> None:
    # An object the schema did not see (installed without its CEL rules, or stored earlier).
    bad = model_deployment(
        serving={"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
        rollout={"interval": "0s"},
    )
    response = answer(request(bad))
    assert not response["allowed"]
    message = response["status"]["message"]
    assert f"spec.serving.resources: {request_above_limit('memory')} (2Gi > 1Gi)" in message
    assert f"spec.rollout.interval (0s): {ZERO_INTERVAL}" in message


def test_a_policy_rule_is_enforced_in_the_namespaces_it_selects() -> None:
    bold = model_deployment(rollout={"stepWeights": [50]})
    refused = answer(request(bold), [PRODUCTION], PROD_LABELS)
    assert not refused["allowed"]
    assert (
        "policy production, rule maxStepWeight: spec.rollout.stepWeights[0] is 50"
        in refused["status"]["message"]
    )
    assert answer(request(bold), [PRODUCTION], {"tier": "dev"})["allowed"]


def test_a_metadata_only_update_is_never_refused() -> None:
    bold = model_deployment(rollout={"stepWeights": [50]})
    annotated = {**bold, "metadata": {"name": "iris", "annotations": {"a": "b"}}}
    update = request(annotated, operation="UPDATE", old=bold)
    assert answer(update, [PRODUCTION], PROD_LABELS)["allowed"]


def test_an_invalid_policy_is_refused_with_its_problem() -> None:
    policy = {
        "metadata": {"name": "production"},
        "spec": {"rules": {"minInterval": "1m"}, "defaults": {"rollout": {"interval": "10s"}}},
    }
    response = answer(request(policy, kind="ClusterRolloutPolicy"))
    assert not response["allowed"]
    assert response["status"]["message"] == (
        "policy production is invalid: spec.defaults.rollout.interval 10s breaks the policy's "
        "own minInterval 1m"
    )
