"""Two operator replicas, as the chart installs them, on one Lease: the standby stays idle,
then finishes a rollout whose leader was killed mid-step, and the rollout ends as if nothing had
happened."""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e.fixtures import Cluster, apply_model_deployment, wait_for
from e2e.in_cluster import InClusterOperator, wait_leader_changed
from e2e.model_store import stored
from e2e.models import train_classifier
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
TAKEOVER_BOUND_S = 15


@pytest.mark.disruptive
def test_the_standby_finishes_a_rollout_whose_leader_was_killed(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if not isinstance(operator, InClusterOperator):
        pytest.skip("the chart's two replicas run on a cluster with a real node")
    base = tmp_path_factory.mktemp("leader-models")
    v1 = stored(cluster.model_store, train_classifier(base / "v1.joblib", seed=1), "churn/v1")
    v2 = stored(cluster.model_store, train_classifier(base / "v2.joblib", seed=2), "churn/v2")
    steps: list[dict[str, Any]] = [
        {"weight": 25, "pause": "6s"},
        {"weight": 50, "pause": "6s"},
        {"weight": 75},
    ]
    options = RolloutOptions(steps=steps)
    leader = wait_for(operator.leader_pod, 60, "one replica leads")
    standby: str = wait_for(
        lambda: next(iter(operator.standby_pods()), None), 60, "a second replica stands by"
    )
    stable = deploy_stable(cluster, namespace, NAME, v1, options)
    wait_for(
        lambda: operator.metrics(standby).get(("modeldeploy_objects", ()), 0) >= 1,
        60,
        "the standby's cache filled",
    )
    with (
        client_traffic(cluster, namespace, NAME) as traffic,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        apply_model_deployment(cluster, namespace, model_deployment(NAME, v2, "v2", options))
        canary = wait_new_revision(cluster, namespace, NAME, stable)
        sleep_until_step_reached(cluster, namespace, NAME, 1)
        # While the leader acts, the standby only reads: the Lease, and the leader's pod when
        # the Lease looked stale for a moment (a slow renewal on a busy machine).
        made = operator.requests_made(standby)
        assert set(made) <= {"get leases", "get pods"}, made
        assert made.get("get pods", 0) <= made["get leases"] / 4, made
        assert operator.metrics(standby).get(("modeldeploy_leader", ())) == 0.0

        killed = operator.kill_leader()
        killed_at = time.monotonic()
        takeover_s = wait_leader_changed(operator, killed, 30)
        new_leader = operator.leader_pod()

        outcome = wait_outcome(cluster, namespace, NAME, canary)
        recorder.wait_settled()

    assert killed == leader
    assert new_leader == standby, (new_leader, standby)
    assert takeover_s <= TAKEOVER_BOUND_S, f"took {takeover_s:.1f}s to take over"
    assert time.monotonic() - killed_at > 0
    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.steps() == [0, 1, 2], recorder.describe()
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert len(events_with_reason(cluster, namespace, NAME, "StepAdvanced")) == 2
    assert len(events_with_reason(cluster, namespace, NAME, "Promoted")) == 1
    records = traffic.records()
    assert sum(r.ok for r in records) / len(records) > 0.97, traffic.summary()
