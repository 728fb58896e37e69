"""Two operator replicas on one Lease: the standby stays idle, then finishes a rollout whose
leader was killed mid-step, and the rollout ends as if nothing had happened."""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e.fixtures import (
    Cluster,
    OperatorProcess,
    apply_model_deployment,
    start_operator,
    wait_for,
)
from e2e.models import TrainedModel, train_classifier
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    model_deployment,
    sleep_until_step_reached,
    wait_new_revision,
    wait_outcome,
)

pytestmark = pytest.mark.cluster

NAME = "churn"
LEASE_NAMESPACE = "default"
LEASE_NAME = "modeldeploy-operator"
TAKEOVER_BOUND_S = 15


def lease_holder(cluster: Cluster) -> str:
    lease: Any = cluster.get_json(
        f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{LEASE_NAME}"
    )
    return str(lease["spec"].get("holderIdentity") or "")


def gauge(operator: OperatorProcess, name: str) -> float | None:
    """A label-less gauge of the operator's; None while its metrics endpoint is not up."""
    try:
        return operator.metrics().get((name, ()), 0.0)
    except OSError:
        return None


def is_leader(operator: OperatorProcess) -> bool:
    return gauge(operator, "modeldeploy_leader") == 1.0


def test_the_standby_finishes_a_rollout_whose_leader_was_killed(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("leader-models")
    v1: TrainedModel = train_classifier(base / "v1.joblib", seed=1)
    v2: TrainedModel = train_classifier(base / "v2.joblib", seed=2)
    steps: list[dict[str, Any]] = [
        {"weight": 25, "pause": "6s"},
        {"weight": 50, "pause": "6s"},
        {"weight": 75},
    ]
    options = RolloutOptions(steps=steps)
    wait_for(lambda: is_leader(operator), 60, "the session's operator leads")
    stable = deploy_stable(cluster, namespace, NAME, v1, options)

    standby = start_operator(
        cluster.kubeconfig, operator.log_path.with_name("standby.log"), cluster.prometheus_url
    )
    try:
        wait_for(
            lambda: (gauge(standby, "modeldeploy_objects") or 0) >= 1,
            60,
            "the standby up, its cache filled",
        )
        with (
            client_traffic(cluster, namespace, NAME) as traffic,
            StatusRecorder(cluster, namespace, NAME) as recorder,
        ):
            apply_model_deployment(cluster, namespace, model_deployment(NAME, v2, "v2", options))
            canary = wait_new_revision(cluster, namespace, NAME, stable)
            sleep_until_step_reached(cluster, namespace, NAME, 1)
            # While the leader acts, the standby only reads the Lease.
            made = standby.requests_made()
            assert set(made) <= {"get leases"}, made
            assert not is_leader(standby)
            leader_identity = lease_holder(cluster)

            operator.stop(kill=True)
            killed_at = time.monotonic()
            wait_for(lambda: is_leader(standby), 30, "the standby leads", interval=0.2)
            takeover_s = time.monotonic() - killed_at
            assert lease_holder(cluster) not in ("", leader_identity)

            outcome = wait_outcome(cluster, namespace, NAME, canary)
            recorder.wait_settled()
    finally:
        # The standby carries on as the session's operator for the scenarios after this one.
        operator.adopt(standby)

    assert takeover_s <= TAKEOVER_BOUND_S, f"took {takeover_s:.1f}s to take over"
    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.steps() == [0, 1, 2], recorder.describe()
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert len(events_with_reason(cluster, namespace, NAME, "StepAdvanced")) == 2
    assert len(events_with_reason(cluster, namespace, NAME, "Promoted")) == 1
    records = traffic.records()
    assert sum(r.ok for r in records) / len(records) > 0.97, traffic.summary()
