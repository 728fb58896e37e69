"""Blue/green end to end: the new revision at full size behind the preview Service, checked
there on the traffic testers send it, then one switch of all client traffic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from e2e.fixtures import Cluster, OperatorProcess, apply_model_deployment, wait_for
from e2e.models import TrainedModel, train_classifier, train_failing_on_negatives
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    model_deployment,
    requests_served_by,
    status_of,
    train_and_store,
    wait_new_revision,
    wait_outcome,
)

pytestmark = pytest.mark.cluster

NAME = "ranker"
PREVIEW = f"{NAME}-canary"


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    return train_and_store(
        cluster,
        NAME,
        tmp_path_factory.mktemp("models"),
        {
            "v1": (train_classifier, 1),
            "v2": (train_classifier, 2),
            "fails": (train_failing_on_negatives, 3),
        },
    )


def blue_green(preview_duration: str = "8s") -> RolloutOptions:
    return RolloutOptions(
        interval="4s",
        checks=[{"name": "error-rate", "max": 0.05}],
        blue_green={"previewDuration": preview_duration},
        scale_down_delay="30s",
    )


def selector(cluster: Cluster, namespace: str, service: str) -> dict[str, str]:
    found: Any = cluster.core.read_namespaced_service(service, namespace)
    return dict(found.spec.selector)


def stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_blue_green_previews_the_new_revision_then_switches_all_traffic_at_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = blue_green()
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    # Keep-alive clients: after the switch their connections to the old pods must move to the
    # new ones, without a failed request.
    with (
        client_traffic(cluster, namespace, NAME, connections="pooled") as clients,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["v2"], "v2", options)
        )
        candidate = wait_new_revision(cluster, namespace, NAME, stable)

        def previewing() -> dict[str, Any] | None:
            status = status_of(cluster, namespace, NAME)
            ready = (status.get("rollout") or {}).get("stepReadyAt")
            return status if status.get("phase") == "Preview" and ready else None

        preview = wait_for(previewing, 120, "the new revision Ready behind the preview")
        assert preview["canary"]["replicas"] == 4 and preview["stable"]["replicas"] == 4
        assert selector(cluster, namespace, PREVIEW)["modeldeploy.io/revision"] == candidate
        assert selector(cluster, namespace, NAME)["modeldeploy.io/revision"] == stable
        # Testers call the preview: the checks have data to judge.
        with client_traffic(cluster, namespace, NAME, service=PREVIEW, rate_per_s=10):
            outcome = wait_outcome(cluster, namespace, NAME, candidate, timeout=120)
        wait_for(
            lambda: selector(cluster, namespace, NAME).get("modeldeploy.io/revision") == candidate,
            30,
            "the client Service switched",
        )
        recorder.wait_settled()
        # Clients keep calling for a while after the switch.
        wait_for(
            lambda: requests_served_by(clients.records(), candidate) > 50,
            60,
            "clients served by the new revision",
        )

    assert outcome["stable"]["revision"] == candidate, outcome.get("rolledBack")
    assert outcome["previous"]["revision"] == stable
    assert set(recorder.weights()) == {0}, recorder.describe()
    phases = recorder.phases()
    assert "Preview" in phases and "Canary" not in phases, phases
    records = clients.records()
    failed = [r for r in records if not r.ok]
    assert not failed, failed[:5]
    # Not one client request reached the new revision before the switch.
    switched_at = stamp(outcome["promotedAt"])
    early = [r for r in records if r.backend == candidate and r.started_at < switched_at - 1]
    assert not early, early[:5]
    ready_at = stamp(preview["rollout"]["stepReadyAt"])
    assert switched_at - ready_at >= 8
    assert events_with_reason(cluster, namespace, NAME, "PreviewReady")


def test_a_failing_preview_is_rolled_back_and_clients_never_see_it(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = blue_green(preview_duration="30s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with (
        client_traffic(cluster, namespace, NAME, connections="pooled") as clients,
        client_traffic(cluster, namespace, NAME, service=PREVIEW, rate_per_s=10),
    ):
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["fails"], "v2", options)
        )
        candidate = wait_new_revision(cluster, namespace, NAME, stable)
        outcome = wait_outcome(cluster, namespace, NAME, candidate, timeout=150)

    assert outcome["phase"] == "RolledBack", outcome
    assert outcome["rolledBack"]["cause"] == "CheckFailed", outcome["rolledBack"]
    assert "error-rate" in outcome["rolledBack"]["reason"]
    assert outcome["stable"]["revision"] == stable
    assert requests_served_by(clients.records(), candidate) == 0
    assert all(r.ok for r in clients.records())
