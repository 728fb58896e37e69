"""The shadow phase end to end: the stable's pods copy a sample of live requests to the new
revision and compare answers; a model answering 200 with the wrong class is caught there,
before a single client request reaches it."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.fixtures import Cluster, OperatorProcess, request_in_cluster, wait_for
from e2e.localcluster.traffic import netloc, service_address
from e2e.models import TrainedModel, train_classifier, train_mislabelled
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    deploy_stable,
    events_with_reason,
    requests_served_by,
    roll_out_under_traffic,
    status_of,
    train_and_store,
)

pytestmark = pytest.mark.cluster

NAME = "scorer"


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    return train_and_store(
        cluster,
        NAME,
        tmp_path_factory.mktemp("models"),
        {
            "v1": (train_classifier, 1),
            "v2": (train_classifier, 2),
            "mislabelled": (train_mislabelled, 3),
        },
    )


def with_shadow(duration: str) -> RolloutOptions:
    return RolloutOptions(
        checks=[{"name": "error-rate", "max": 0.05}],
        shadow={"percent": 50, "duration": duration, "minAgreement": 0.9},
    )


def roll_out(
    cluster: Cluster, namespace: str, model: TrainedModel, options: RolloutOptions, stable: str
) -> tuple[str, dict[str, Any], list[Any], StatusRecorder]:
    done = roll_out_under_traffic(cluster, namespace, NAME, model, options, stable)
    return done.candidate, done.outcome, done.records, done.recorder


def test_a_model_answering_the_wrong_class_is_caught_in_shadow_unseen_by_clients(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = with_shadow("60s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    candidate, outcome, records, recorder = roll_out(
        cluster, namespace, models["mislabelled"], options, stable
    )

    assert outcome["phase"] == "RolledBack", outcome
    assert outcome["rolledBack"]["cause"] == "CheckFailed", outcome["rolledBack"]
    assert "shadow-agreement" in outcome["rolledBack"]["reason"], outcome["rolledBack"]
    checks = {c["name"]: c for c in outcome["checks"]}
    assert checks["shadow-agreement"]["value"] < 0.9, checks
    assert checks["error-rate"]["verdict"] != "Fail", checks
    assert recorder.weights() == [0], recorder.describe()
    assert "Shadow" in recorder.phases(), recorder.describe()
    # The candidate answered copies, never a client.
    assert requests_served_by(records, candidate) == 0
    assert all(r.ok for r in records), [r for r in records if not r.ok][:5]
    assert events_with_reason(cluster, namespace, NAME, "ShadowStarted")


def test_a_good_model_passes_its_shadow_then_ramps(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = with_shadow("8s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    candidate, outcome, records, recorder = roll_out(
        cluster, namespace, models["v2"], options, stable
    )

    assert outcome["stable"]["revision"] == candidate, outcome.get("rolledBack")
    phases = recorder.phases()
    # Canary while its pods come up and pass the preflight, Shadow, then Canary at weight.
    assert "Canary" in phases[phases.index("Shadow") :], phases
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    passed = events_with_reason(cluster, namespace, NAME, "ShadowPassed")
    assert passed and "shadow-agreement" in passed[0]["message"], passed
    # The copies stopped once the ramp began.
    final = status_of(cluster, namespace, NAME)
    assert final["phase"] in ("Ready", "Progressing")
    wait_for(lambda: requests_served_by(records, candidate) > 0, 5, "clients on v2")
    # What steered the copies is not a client's to reach: the model's Service answers the
    # inference protocol, never the admin endpoint the operator used on the pods' own port.
    ip, port = service_address(
        cluster.get_json(f"/api/v1/namespaces/{namespace}/services/{NAME}"), "http"
    )
    steer = {"target": f"http://{NAME}.{namespace}.svc", "percent": 100, "candidateRevision": "x"}
    answer = request_in_cluster(
        cluster, "POST", f"http://{netloc(ip, port)}/admin/shadow", json=steer, timeout=10
    )
    assert answer.status_code == 404, answer.text
