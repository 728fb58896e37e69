"""No client reaches a revision before its preflight passed, proven on the data plane.

Each scenario watches the EndpointSlices of the client Service (what kube-proxy sends to)
from before the change, and sends client traffic to the Service's ClusterIP through
kube-proxy, a new connection per request so that every request samples the Service's
endpoints afresh (a pooled client would stay on the pods it reached first). A revision that
has not passed its preflight (schema, smoke test, blue/green preview) must never be among its
ready endpoints, and no client answer may come from it:
- a change to a model that fails its smoke test while another canary is mid-ramp;
- a first deploy that fails its smoke test;
- a promote, even --full, before the preflight passed;
- a blue/green promote before the preview is up.
"""

from __future__ import annotations

import pytest

from e2e.endpoints import ServiceEndpoints
from e2e.fixtures import Cluster, OperatorProcess, apply_model_deployment, wait_for
from e2e.models import TrainedModel, train_classifier, train_mislabelled
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    model_deployment,
    requests_served_by,
    sleep_until_step_reached,
    smoke_test,
    status_of,
    store_models,
    wait_new_revision,
    wait_outcome,
)
from modeldeploy.tools import cli

pytestmark = pytest.mark.cluster

NAME = "loans"
# Two pods a revision: what is proven holds for any number, and fewer pods start sooner.
REPLICAS = 2


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    base = tmp_path_factory.mktemp("models")
    trained = {
        "v1": train_classifier(base / "v1.joblib", seed=1),
        "v2": train_classifier(base / "v2.joblib", seed=2),
        "mislabelled": train_mislabelled(base / "mislabelled.joblib", seed=3),
    }
    return store_models(cluster, NAME, trained)


def pods_of(revision: str) -> str:
    return f"{NAME}-{revision}-"


def promote(cluster: Cluster, namespace: str, *flags: str) -> None:
    argv = ["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "promote", *flags, NAME]
    assert cli.main(argv) == 0


def test_a_mid_ramp_change_to_a_model_failing_its_smoke_test_never_reaches_a_client(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(
        smoke_test=smoke_test(models["v1"]),
        steps=[{"weight": 25, "pause": "1h"}, {"weight": 50}],
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options, REPLICAS)
    with (
        ServiceEndpoints(cluster, namespace, NAME) as endpoints,
        client_traffic(cluster, namespace, NAME, connections="fresh") as clients,
    ):
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["v2"], "v2", options, REPLICAS)
        )
        canary = wait_new_revision(cluster, namespace, NAME, stable)
        ramping = sleep_until_step_reached(cluster, namespace, NAME, 0)
        assert ramping["weight"] == 25, ramping
        wait_for(lambda: requests_served_by(clients.records(), canary) > 0, 60, "clients on v2")
        # Mid-ramp, the spec moves on to a model that answers the wrong class.
        apply_model_deployment(
            cluster,
            namespace,
            model_deployment(NAME, models["mislabelled"], "v3", options, REPLICAS),
        )
        bad = wait_new_revision(cluster, namespace, NAME, canary)
        outcome = wait_outcome(cluster, namespace, NAME, bad, timeout=180)

    assert outcome["phase"] == "RolledBack", outcome
    failed = outcome["rolledBack"]
    assert failed["revision"] == bad and failed["cause"] == "SmokeTestFailed", failed
    # Its own smoke test ran: nothing of v2's passed preflight was carried over.
    assert failed["preflight"]["smokePassed"] == 0, failed
    assert endpoints.ever_ready(pods_of(bad)) == []
    assert endpoints.ever_ready(pods_of(canary)), "v2's pods served during its ramp"
    assert requests_served_by(clients.records(), bad) == 0
    assert outcome["stable"]["revision"] == stable


def test_a_first_deploy_failing_its_smoke_test_never_reaches_a_client(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(smoke_test=smoke_test(models["v1"]))
    with ServiceEndpoints(cluster, namespace, NAME) as endpoints:
        apply_model_deployment(
            cluster,
            namespace,
            model_deployment(NAME, models["mislabelled"], "v1", options, REPLICAS),
        )
        wait_for(
            lambda: (
                cluster.core.list_namespaced_service(
                    namespace, field_selector=f"metadata.name={NAME}"
                ).items
            ),
            60,
            "the client Service",
        )
        with client_traffic(cluster, namespace, NAME, connections="fresh") as clients:
            failed = wait_for(
                lambda: (s := status_of(cluster, namespace, NAME)).get("phase") == "Failed" and s,
                180,
                "the first deploy failed",
            )
    revision = failed["rolledBack"]["revision"]
    assert failed["rolledBack"]["cause"] == "SmokeTestFailed", failed
    assert failed.get("stable") is None
    assert endpoints.ever_ready(pods_of(revision)) == []
    assert requests_served_by(clients.records(), revision) == 0
    assert not [r for r in clients.records() if r.ok], "no pod can have answered a client"


def test_a_promote_before_the_preflight_passed_is_refused(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(
        smoke_test=smoke_test(models["v1"]),
        steps=[{"weight": 25, "pause": "1h"}, {"weight": 50, "pause": "1h"}],
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options, REPLICAS)
    with (
        ServiceEndpoints(cluster, namespace, NAME) as endpoints,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["v2"], "v2", options, REPLICAS)
        )
        candidate = wait_new_revision(cluster, namespace, NAME, stable)
        # At once, as an impatient person would: its pods are still loading the model.
        promote(cluster, namespace, "--full")
        wait_for(
            lambda: events_with_reason(cluster, namespace, NAME, "PromoteRefused"),
            30,
            "a PromoteRefused Event",
        )
        reached = sleep_until_step_reached(cluster, namespace, NAME, 0)
        assert reached["stable"]["revision"] == stable and reached["weight"] == 25, reached
        assert events_with_reason(cluster, namespace, NAME, "PreflightPassed")
        # The step is reached once the candidate's pods are Ready; the Service's EndpointSlice
        # names them a moment later.
        seen = wait_for(
            lambda: endpoints.ever_ready(pods_of(candidate)),
            30,
            "the candidate's pods behind the client Service",
        )
        first_endpoint = min(at for at, _ in seen)
        # Once the preflight passed, a promote moves the ramp on.
        promote(cluster, namespace)
        sleep_until_step_reached(cluster, namespace, NAME, 1)

    assert recorder.steps() == [0, 1], recorder.describe()
    weighted = recorder.first(lambda s: s.weight > 0)
    assert weighted is not None, recorder.describe()
    # The canary's pods join the client Service with its first weight, not before.
    assert first_endpoint >= weighted.at - 0.5, (first_endpoint, weighted.at)


def test_a_blue_green_promote_before_the_preview_is_up_is_refused(
    cluster: Cluster, operator: OperatorProcess, namespace: str, models: dict[str, TrainedModel]
) -> None:
    options = RolloutOptions(
        smoke_test=smoke_test(models["v1"]),
        blue_green={"previewDuration": "1h"},
    )
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], options, REPLICAS)
    with (
        ServiceEndpoints(cluster, namespace, NAME) as endpoints,
        client_traffic(cluster, namespace, NAME, connections="fresh") as clients,
        StatusRecorder(cluster, namespace, NAME) as recorder,
    ):
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["v2"], "v2", options, REPLICAS)
        )
        candidate = wait_new_revision(cluster, namespace, NAME, stable)
        # At once: its pods are not even Ready.
        promote(cluster, namespace)
        wait_for(
            lambda: events_with_reason(cluster, namespace, NAME, "PromoteRefused"),
            30,
            "a PromoteRefused Event",
        )
        wait_for(
            lambda: events_with_reason(cluster, namespace, NAME, "PreviewReady"),
            120,
            "the preview up and its preflight passed",
        )
        assert status_of(cluster, namespace, NAME)["stable"]["revision"] == stable
        # Now a promote cuts the hour-long preview short.
        promote(cluster, namespace)
        outcome = wait_outcome(cluster, namespace, NAME, candidate, timeout=120)
        recorder.wait_settled()
        wait_for(lambda: requests_served_by(clients.records(), candidate) > 0, 60, "clients on v2")

    assert outcome["stable"]["revision"] == candidate, outcome
    switched = recorder.first(lambda s: s.stable == candidate)
    assert switched is not None, recorder.describe()
    first_endpoint = min(at for at, _ in endpoints.ever_ready(pods_of(candidate)))
    # The status records the switch before the Service changes; the recorder polls every
    # 0.25 s, so its sample may come that much after the write.
    assert first_endpoint >= switched.at - 0.5, (first_endpoint, switched.at)
