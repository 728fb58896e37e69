"""Canary rollouts end to end: real Prometheus scraping real serving pods under client traffic.

Each scenario asserts the sequence of weights and phases it saw. The bad versions are bad for
a real reason: a model artifact that fails on part of the traffic, a server option that adds
latency, a corrupted artifact that never becomes ready.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e.fixtures import (
    GROUP,
    PLURAL,
    VERSION,
    Cluster,
    OperatorProcess,
    apply_model_deployment,
    reconciles_of,
    wait_for,
)
from e2e.in_cluster import InClusterOperator
from e2e.models import (
    TrainedModel,
    train_classifier,
    train_failing_on_negatives,
    train_mislabelled,
)
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    first_bad_sample_time,
    http_route,
    model_deployment,
    pod_uids,
    sleep_until_step_reached,
    status_of,
    train_and_store,
    wait_new_revision,
    wait_outcome,
    wait_routed,
)
from modeldeploy.tools import cli

pytestmark = pytest.mark.cluster

NAME = "fraud"


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
            "mislabelled": (train_mislabelled, 4),
        },
    )


def start_rollout(
    cluster: Cluster,
    namespace: str,
    model: TrainedModel,
    options: RolloutOptions,
    stable_revision: str,
    **overrides: Any,
) -> str:
    apply_model_deployment(
        cluster, namespace, model_deployment(NAME, model, "v2", options, **overrides)
    )
    return wait_new_revision(cluster, namespace, NAME, stable_revision)


def test_good_version_ramps_every_step_and_is_promoted(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions()
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with (
        client_traffic(cluster, namespace, NAME) as traffic,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        at_last_step = sleep_until_step_reached(cluster, namespace, NAME, 2)
        canary_pods = pod_uids(cluster, namespace, NAME, canary)
        assert len(canary_pods) == 3, at_last_step
        outcome = wait_outcome(cluster, namespace, NAME, canary)
        recorder.wait_settled()
        # Once the promoted revision is at full strength the client Service sends to it
        # alone, while the old stable is still up for an undo.
        wait_for(
            lambda: status_of(cluster, namespace, NAME).get("phase") == "Ready", 60, "v2 Ready"
        )
        client: Any = cluster.core.read_namespaced_service(NAME, namespace)
        selector = client.spec.selector
        assert selector == {"modeldeploy.io/name": NAME, "modeldeploy.io/revision": canary}
        # The old stable stays warm for scaleDownDelay, then the operator's own wake-up (no
        # event marks that moment) scales it to zero.
        wait_for(
            lambda: (
                cluster.apps.read_namespaced_deployment(f"{NAME}-{stable}", namespace).spec.replicas
                == 0
            ),
            30,
            "the old stable scaled down after scaleDownDelay",
        )

    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert recorder.steps() == [0, 1, 2], recorder.describe()
    phases = recorder.phases()
    assert phases[0] == "Ready" and "Canary" in phases and phases[-1] == "Ready", phases
    assert "RolledBack" not in phases
    # Promotion swaps: the canary's pods are the stable pods now.
    assert canary_pods <= pod_uids(cluster, namespace, NAME, canary)
    final = status_of(cluster, namespace, NAME)
    assert final["previous"]["revision"] == stable
    assert len(events_with_reason(cluster, namespace, NAME, "StepAdvanced")) == 2
    assert [h["outcome"] for h in final["history"]][:1] == ["Promoted"]
    records = traffic.records()
    ok_share = sum(r.ok for r in records) / len(records)
    assert ok_share > 0.97, traffic.summary()


def test_version_answering_5xx_is_rolled_back_at_the_first_step(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(interval="4s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    started = time.time()
    with (
        client_traffic(cluster, namespace, NAME),
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["fails"], options, stable)
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=120)
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert "error-rate" in outcome["rolledBack"]["reason"]
    assert "max 0.05" in outcome["rolledBack"]["reason"]
    assert recorder.weights() == [0, 25, 0], recorder.describe()
    assert recorder.steps() == [0]
    assert outcome["stable"]["revision"] == stable
    assert cluster.apps.read_namespaced_deployment(f"{NAME}-{canary}", namespace).spec.replicas == 0
    # Events follow the status write that records the decision.
    wait_for(
        lambda: events_with_reason(cluster, namespace, NAME, "RolledBack"),
        10,
        "a RolledBack Event",
    )

    # Detection: from the first scraped 5xx of the canary to weight 0.
    assert cluster.prometheus_url
    first_bad = first_bad_sample_time(cluster.prometheus_url, namespace, canary, started)
    weight_zero = recorder.first(lambda s: s.phase == "RolledBack")
    assert first_bad is not None and weight_zero is not None
    assert weight_zero.at - first_bad < 4 + 5, (first_bad, weight_zero)

    # No new attempt at the same revision, however often the object is reconciled.
    reconciles = reconciles_of(operator, namespace, NAME)
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, NAME, {"metadata": {"annotations": {"nudged": "1"}}}
    )
    wait_for(
        lambda: reconciles_of(operator, namespace, NAME) > reconciles,
        60,
        "a reconcile after the nudge",
    )
    again = status_of(cluster, namespace, NAME)
    assert again["phase"] == "RolledBack" and again["weight"] == 0


def test_slower_version_is_rolled_back_by_the_relative_latency_check(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    checks = [{"name": "latency-p95", "maxIncrease": 1.0}, {"name": "error-rate", "max": 0.05}]
    options = RolloutOptions(checks=checks)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    slow = RolloutOptions(checks=checks, env={"SERVING_RESPONSE_DELAY_MS": "250"})
    with (
        client_traffic(cluster, namespace, NAME),
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["v2"], slow, stable)
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=120)
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert "latency-p95" in outcome["rolledBack"]["reason"]
    assert "maxIncrease" in outcome["rolledBack"]["reason"]
    latency = next(c for c in outcome["checks"] if c["name"] == "latency-p95")
    assert latency["value"] > 0.2 and latency["stableValue"] < 0.1, latency
    assert recorder.weights()[-1] == 0 and max(recorder.weights()) == 25, recorder.describe()


@pytest.mark.disruptive
def test_prometheus_down_holds_the_ramp_then_rolls_back(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
) -> None:
    options = RolloutOptions(interval="6s", inconclusive_limit=2)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with (
        client_traffic(cluster, namespace, NAME),
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        sleep_until_step_reached(cluster, namespace, NAME, 0)
        cluster.prometheus.stop()
        stopped = time.time()
        try:
            outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=120)
        finally:
            cluster.prometheus.start()
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert "inconclusive 3 times" in outcome["rolledBack"]["reason"]
    assert recorder.steps() == [0], "no advance without data"
    assert all(c["verdict"] == "Error" for c in outcome["checks"]), outcome["checks"]
    rolled = recorder.first(lambda s: s.phase == "RolledBack")
    assert rolled is not None and rolled.at - stopped >= 2 * 6 - 1, "not before the limit"


def test_canary_that_never_becomes_ready_rolls_back_at_the_deadline(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(progress_deadline="25s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with StatusRecorder(cluster, namespace, NAME) as recorder:
        # The artifact does not match its declared sha256: the server refuses to become ready.
        canary = start_rollout(
            cluster, namespace, models["v2"], options, stable, sha256=models["v1"].sha256
        )
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=120)
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert outcome["rolledBack"]["cause"] == "ProgressDeadlineExceeded"
    assert "not Ready within progressDeadline 25s" in outcome["rolledBack"]["reason"]
    assert max(recorder.weights()) == 0, "no weight ever went to a canary without ready pods"


@pytest.mark.kills_operator
def test_operator_killed_mid_ramp_resumes_at_the_same_step(
    cluster: Cluster, operator: InClusterOperator, namespace: str, models: dict[str, TrainedModel]
) -> None:
    steps: list[dict[str, Any]] = [
        {"weight": 25, "pause": "6s"},
        {"weight": 50, "pause": "6s"},
        {"weight": 75},
    ]
    options = RolloutOptions(steps=steps)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    # A new connection per request (the default): kube-proxy places each one, so a few seconds
    # of requests show the step's share of pods. Keep-alive clients show it only over many
    # connections.
    with (
        client_traffic(cluster, namespace, NAME) as traffic,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        # Taken before the rollout starts: the stop must land within step 2's pause, however
        # long another test's fault holds the replicas.
        with operator.alone():
            canary = start_rollout(cluster, namespace, models["v2"], options, stable)
            before = sleep_until_step_reached(cluster, namespace, NAME, 1)
            operator.stop(kill=True)
            killed_at = time.time()
            try:
                # Longer than the step's pause with no replica running: clients keep being
                # served.
                wait_for(
                    lambda: any(r.started_at > killed_at + 6 for r in traffic.records()),
                    60,
                    "clients served for 6 s with no operator",
                    interval=0.2,
                )
                during = status_of(cluster, namespace, NAME)
            finally:
                operator.restart(cluster.kubeconfig, cluster.prometheus_url)
        assert during["rollout"]["step"] == 1
        outcome = wait_outcome(cluster, namespace, NAME, canary)
        recorder.wait_settled()

    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert before["rollout"]["step"] == 1
    assert recorder.steps() == [0, 1, 2], recorder.describe()
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert len(events_with_reason(cluster, namespace, NAME, "StepAdvanced")) == 2
    # No traffic blip: while the operator was away clients were served, by both tracks in the
    # step's proportions (2 of 4 pods are canary pods).
    gap = [r for r in traffic.records() if killed_at <= r.started_at <= killed_at + 6]
    assert gap and all(r.ok for r in gap), traffic.summary()
    canary_share = sum(1 for r in gap if r.backend == canary) / len(gap)
    assert 0.3 <= canary_share <= 0.7, canary_share


def test_gateway_api_router_ramps_by_route_weights(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
) -> None:
    """Clients call through the cluster's Gateway, which splits by the weights the operator
    sets on the user's HTTPRoute."""
    cluster.custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", namespace, "httproutes", http_route(NAME, namespace)
    )

    def route_weight() -> int | None:
        current: Any = cluster.custom.get_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", namespace, "httproutes", NAME
        )
        refs = {r["name"]: r.get("weight", 1) for r in current["spec"]["rules"][0]["backendRefs"]}
        return int(refs.get(f"{NAME}-canary", 0))

    options = RolloutOptions(router="gateway-api")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    wait_routed(cluster, namespace, NAME, stable)
    with (
        client_traffic(cluster, namespace, NAME, via_route=True) as traffic,
        StatusRecorder(cluster, namespace, NAME, route_weight=route_weight) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        sleep_until_step_reached(cluster, namespace, NAME, 2)
        canary_pods = pod_uids(cluster, namespace, NAME, canary)
        outcome = wait_outcome(cluster, namespace, NAME, canary)
        recorder.wait_settled()

    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.route_weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert canary_pods <= pod_uids(cluster, namespace, NAME, canary)
    # After promotion the stable Service points at the promoted pods.
    wait_for(
        lambda: (
            cluster.get_json(f"/api/v1/namespaces/{namespace}/services/{NAME}-stable")["spec"][
                "selector"
            ]["modeldeploy.io/revision"]
            == canary
        ),
        30,
        "stable Service selects the promoted revision",
    )
    records = traffic.records()
    # Both revisions answered requests that went through the Gateway, and clients were
    # served all along.
    assert {stable, canary} <= {r.backend for r in records}, traffic.summary()
    failed = [r for r in records if not r.ok]
    assert len(failed) / len(records) < 0.03, (traffic.summary(), failed[:3], failed[-3:])


def test_people_steer_a_rollout_with_the_kubectl_plugin(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    """pause, resume, promote, abort, retry, promote --full and undo, as a person runs them."""
    steps: list[dict[str, Any]] = [
        {"weight": 25, "pause": "1h"},
        {"weight": 50, "pause": "1h"},
        {"weight": 75, "pause": "1h"},
    ]
    options = RolloutOptions(steps=steps)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    def plugin(*args: str) -> None:
        assert cli.main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args]) == 0

    def phase_becomes(phase: str, step: int | None = None) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = status_of(cluster, namespace, NAME)
            at_step = (status.get("rollout") or {}).get("step")
            return status if status.get("phase") == phase and step in (None, at_step) else None

        return wait_for(probe, 90, f"phase {phase} at step {step}", interval=0.3)

    with client_traffic(cluster, namespace, NAME):
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        sleep_until_step_reached(cluster, namespace, NAME, 0)
        plugin("pause", NAME)
        phase_becomes("Paused", 0)
        plugin("resume", NAME)
        phase_becomes("Canary", 0)
        plugin("promote", NAME)
        phase_becomes("Canary", 1)
        plugin("abort", NAME)
        aborted = phase_becomes("RolledBack")
        assert aborted["rolledBack"]["reason"] == "aborted as asked"
        assert aborted["weight"] == 0
        plugin("retry", NAME)
        phase_becomes("Canary", 0)
        # A promote counts only once the retried canary passed its preflight again.
        sleep_until_step_reached(cluster, namespace, NAME, 0)
        plugin("promote", "--full", NAME)
        promoted = wait_outcome(cluster, namespace, NAME, canary)
        assert promoted["stable"]["revision"] == canary
        plugin("undo", NAME)
        undone = phase_becomes("RolledBack")

    assert undone["stable"]["revision"] == stable
    assert undone["rolledBack"]["reason"] == "undone as asked"
    assert set(undone["handledCommands"]) == {"promote", "abort", "retry", "undo"}
    outcomes = [entry["outcome"] for entry in undone["history"]]
    assert outcomes[:4] == ["Undone", "Promoted", "RolledBack", "Deployed"], outcomes


def test_an_approval_step_holds_with_checks_running_until_a_person_promotes(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    steps: list[dict[str, Any]] = [
        {"weight": 25},
        {"weight": 50, "approval": "required"},
        {"weight": 75},
    ]
    options = RolloutOptions(steps=steps, interval="3s")
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    def awaiting() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        return status if status.get("phase") == "AwaitingApproval" else None

    with (
        client_traffic(cluster, namespace, NAME),
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        held = wait_for(awaiting, 120, "the approval step reached")
        assert held["rollout"]["step"] == 1 and held["weight"] == 50, held
        # Held well past its checks' interval, and the checks go on running meanwhile.
        first_check = held["rollout"].get("lastAnalysisAt")
        wait_for(
            lambda: (
                (status_of(cluster, namespace, NAME).get("rollout") or {}).get("lastAnalysisAt")
                not in (None, first_check)
            ),
            30,
            "a check run while awaiting approval",
        )
        still = status_of(cluster, namespace, NAME)
        assert still["phase"] == "AwaitingApproval" and still["rollout"]["step"] == 1, still
        conditions = {c["type"]: c for c in still["conditions"]}
        assert conditions["Reconciling"]["reason"] == "AwaitingApproval"
        assert events_with_reason(cluster, namespace, NAME, "AwaitingApproval")
        assert (
            cli.main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "promote", NAME])
            == 0
        )
        outcome = wait_outcome(cluster, namespace, NAME, canary)
        recorder.wait_settled()

    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.weights() == [0, 25, 50, 75, 0], recorder.describe()
    assert "AwaitingApproval" in recorder.phases()


def test_a_model_whose_predictions_shift_is_rolled_back_by_the_psi_check(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    """A model answering every request with 200 and the wrong class: the error rate sees
    nothing, the population stability index of its predictions does."""
    options = RolloutOptions(
        checks=[{"name": "error-rate", "max": 0.05}, {"name": "prediction-psi", "max": 0.25}],
        schema_change="Allow",
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with (
        client_traffic(cluster, namespace, NAME),
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        canary = start_rollout(cluster, namespace, models["mislabelled"], options, stable)
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=180)
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert outcome["rolledBack"]["cause"] == "CheckFailed", outcome["rolledBack"]
    assert "prediction-psi" in outcome["rolledBack"]["reason"], outcome["rolledBack"]
    checks = {c["name"]: c for c in outcome["checks"]}
    assert checks["error-rate"]["verdict"] == "Pass", checks
    assert checks["prediction-psi"]["value"] > 0.25, checks
    assert recorder.weights() == [0, 25, 0], recorder.describe()


def test_a_check_that_divides_by_zero_is_inconclusive_never_a_pass(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    """A custom ratio over nothing is +Inf: no data, so it holds the ramp and, past the
    inconclusive limit, rolls back; it never passes a min-only bound."""
    options = RolloutOptions(
        checks=[{"name": "ratio", "query": "vector(1) / vector(0)", "min": 0.5}],
        inconclusive_limit=1,
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    with StatusRecorder(cluster, namespace, NAME) as recorder:
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=120)
        recorder.wait_settled()

    assert outcome["phase"] == "RolledBack", outcome
    assert outcome["rolledBack"]["cause"] == "Inconclusive", outcome["rolledBack"]
    assert recorder.weights() == [0, 25, 0], recorder.describe()
    assert outcome["checks"][0]["verdict"] == "Inconclusive", outcome["checks"]


def test_a_rollout_without_checks_says_it_is_unguarded(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(checks=[], steps=[{"weight": 50, "pause": "1h"}])
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
    start_rollout(cluster, namespace, models["v2"], options, stable)
    at_step = sleep_until_step_reached(cluster, namespace, NAME, 0)
    assert "unguarded" in at_step["message"], at_step["message"]
    warnings = wait_for(
        lambda: events_with_reason(cluster, namespace, NAME, "Unguarded"), 10, "Unguarded Event"
    )
    assert warnings[0]["type"] == "Warning"


def test_undo_after_the_scale_down_delay_brings_the_old_version_up_before_switching(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    """The previous stable is at zero when the undo comes: it is brought up and Ready before it
    takes the traffic back, and no client request fails from the undo on."""
    # Keep-alive clients below, each of their 8 connections carrying about 3 requests a second:
    # the server ends a connection after 10 of them, so that each is placed again within a
    # check interval and the canary's pods get their share (the default of 100 suits clients
    # that send more).
    options = RolloutOptions(
        steps=[{"weight": 50}],
        scale_down_delay="2s",
        env={"SERVING_MAX_REQUESTS_PER_CONNECTION": "10"},
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)

    def no_ready_pods(revision: str) -> bool:
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{NAME}-{revision}"
        return not (cluster.get_json(path).get("status") or {}).get("readyReplicas")

    def plugin(*args: str) -> None:
        assert cli.main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args]) == 0

    def undone() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        return status if (status.get("stable") or {}).get("revision") == stable else None

    # Keep-alive clients: their connections to the pods that go away must move, not fail.
    with client_traffic(cluster, namespace, NAME, connections="pooled") as traffic:
        canary = start_rollout(cluster, namespace, models["v2"], options, stable)
        promoted = wait_outcome(cluster, namespace, NAME, canary)
        assert promoted["stable"]["revision"] == canary, promoted.get("rolledBack")
        wait_for(lambda: no_ready_pods(stable), 60, "the old stable at zero after scaleDownDelay")

        undo_at = time.time()
        plugin("undo", NAME)
        final = wait_for(undone, 120, "the old version serving again")
        wait_for(lambda: no_ready_pods(canary), 60, "the undone version at zero")
        served = len(traffic.records())
        wait_for(lambda: len(traffic.records()) >= served + 20, 30, "clients served after it")

    assert final["rolledBack"]["reason"] == "undone as asked"
    assert len(events_with_reason(cluster, namespace, NAME, "UndoStarted")) == 1
    since_undo = [r for r in traffic.records() if r.started_at >= undo_at]
    assert len(since_undo) >= 20
    assert all(r.ok for r in since_undo), traffic.summary()
