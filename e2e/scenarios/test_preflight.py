"""The preflight end to end: before a new revision gets any client request, the operator
compares its model's inputs and outputs with the stable's and sends it a smoke test.

The bad versions are bad for a real reason: a model that answers every request with 200 and
the wrong class, and a model trained on one more feature than clients send.
"""

from __future__ import annotations

from typing import Any

import pytest

from e2e.fixtures import Cluster, OperatorProcess, apply_model_deployment, wait_for
from e2e.models import TrainedModel, train_classifier, train_mislabelled
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    deploy_stable,
    events_with_reason,
    model_deployment,
    requests_served_by,
    roll_out_under_traffic,
    smoke_test,
    status_of,
    store_models,
)

pytestmark = pytest.mark.cluster

NAME = "churn"


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    base = tmp_path_factory.mktemp("models")
    trained = {
        "v1": train_classifier(base / "v1.joblib", seed=1),
        "v2": train_classifier(base / "v2.joblib", seed=2),
        "mislabelled": train_mislabelled(base / "mislabelled.joblib", seed=3),
        "five-features": train_classifier(base / "five.joblib", seed=4, n_features=5),
    }
    return store_models(cluster, NAME, trained)


def options_with_smoke_test(models: dict[str, TrainedModel]) -> RolloutOptions:
    return RolloutOptions(smoke_test=smoke_test(models["v1"]))


def roll_out(
    cluster: Cluster, namespace: str, model: TrainedModel, options: RolloutOptions, stable: str
) -> tuple[str, dict[str, Any], list[Any], StatusRecorder]:
    done = roll_out_under_traffic(cluster, namespace, NAME, model, options, stable)
    return done.candidate, done.outcome, done.records, done.recorder


def test_a_model_answering_the_wrong_class_fails_its_smoke_test_unseen_by_clients(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = options_with_smoke_test(models)
    # The first deploy passes the same smoke test before it becomes stable.
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    assert events_with_reason(cluster, namespace, NAME, "PreflightPassed")

    candidate, outcome, records, recorder = roll_out(
        cluster, namespace, models["mislabelled"], options, stable
    )

    assert outcome["phase"] == "RolledBack", outcome
    failed = outcome["rolledBack"]
    assert failed["cause"] == "SmokeTestFailed", failed
    failure = failed["preflight"]["failures"][0]
    assert failure["request"] == "class-centres"
    assert failure["expected"] == "the first output = ['0', '1', '2']", failure
    assert failure["got"] == "label = [1, 2, 0]", failure
    assert failed["preflight"]["smokePassed"] == 0
    assert recorder.weights() == [0], recorder.describe()
    assert requests_served_by(records, candidate) == 0
    assert requests_served_by(records, stable) > 0
    assert (
        cluster.apps.read_namespaced_deployment(f"{NAME}-{candidate}", namespace).spec.replicas == 0
    )
    wait_for(
        lambda: events_with_reason(cluster, namespace, NAME, "RolledBack"), 10, "a RolledBack Event"
    )


def test_a_model_that_takes_other_inputs_is_rolled_back_before_any_traffic(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions()
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    candidate, outcome, records, recorder = roll_out(
        cluster, namespace, models["five-features"], options, stable
    )

    assert outcome["phase"] == "RolledBack", outcome
    failed = outcome["rolledBack"]
    assert failed["cause"] == "IncompatibleSchema", failed
    assert failed["preflight"]["schemaChanges"] == [
        "input input-0: shape [-1, 4] became [-1, 5], which does not take what clients send"
    ]
    assert "input-0" in outcome["message"]
    assert recorder.weights() == [0], recorder.describe()
    assert requests_served_by(records, candidate) == 0


def test_a_good_model_passes_its_preflight_and_ramps(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = options_with_smoke_test(models)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    candidate, outcome, records, recorder = roll_out(
        cluster, namespace, models["v2"], options, stable
    )

    assert outcome["stable"]["revision"] == candidate, outcome.get("rolledBack")
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    passed = [
        e
        for e in events_with_reason(cluster, namespace, NAME, "PreflightPassed")
        if candidate in e["message"]
    ]
    assert passed and "1/1 smoke requests passed" in passed[0]["message"], passed
    assert requests_served_by(records, candidate) > 0


def test_a_first_deploy_that_fails_its_smoke_test_never_becomes_ready(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = options_with_smoke_test(models)
    apply_model_deployment(
        cluster, namespace, model_deployment(NAME, models["mislabelled"], "v1", options)
    )

    def failed() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        return status if status.get("phase") == "Failed" else None

    status = wait_for(failed, 180, "the first deploy failed its smoke test")
    assert status["rolledBack"]["cause"] == "SmokeTestFailed", status
    assert status.get("stable") is None
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Stalled"]["status"] == "True"
    # The decision is recorded in status before it is carried out: the scale-down follows.
    deployment = f"{NAME}-{status['revision']}"
    wait_for(
        lambda: cluster.apps.read_namespaced_deployment(deployment, namespace).spec.replicas == 0,
        30,
        "the failed first deploy scaled to zero",
    )
