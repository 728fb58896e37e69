"""Admission review: what is refused, in which words, and the HTTPS server that answers."""

import json
import shutil
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from e2e.localcluster import pki
from modeldeploy.policy.select import Policy, read_policy
from modeldeploy.shell.admission import review
from modeldeploy.shell.webhook import PATH, AdmissionServer

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


@pytest.fixture
def server(tmp_path: Path) -> Any:
    keys = pki.generate(tmp_path / "pki", "node", "127.0.0.1")
    certs = tmp_path / "webhook"
    certs.mkdir()
    shutil.copy(keys.apiserver.cert, certs / "tls.crt")
    shutil.copy(keys.apiserver.key, certs / "tls.key")
    running = AdmissionServer(0, certs, lambda: [PRODUCTION], lambda _ns: PROD_LABELS, "127.0.0.1")
    running.start()
    yield running, keys.ca.cert
    running.stop()


def post(port: int, ca: Path, path: str, body: bytes) -> tuple[int, Any]:
    context = ssl.create_default_context(cafile=str(ca))
    sent = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(sent, context=context, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_answers_reviews_over_tls(server: Any) -> None:
    running, ca = server
    body = json.dumps(request(model_deployment(rollout={"stepWeights": [50]}))).encode()
    status, review_answer = post(running.port, ca, PATH, body)
    assert status == 200 and review_answer["kind"] == "AdmissionReview"
    assert not review_answer["response"]["allowed"]
    assert post(running.port, ca, "/other", body)[0] == 404
    assert post(running.port, ca, PATH, b"[1, 2]")[0] == 400
    assert post(running.port, ca, PATH, b"not json")[0] == 400
