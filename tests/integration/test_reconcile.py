"""The operator turns a ModelDeployment into serving Deployments and Services and keeps them so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes.client.exceptions import ApiException

from e2e.fixtures import (
    Cluster,
    OperatorProcess,
    apply_model_deployment,
    get_model_deployment,
    request_in_cluster,
    wait_for,
)
from e2e.localcluster import traffic
from e2e.model_store import ENDPOINT_ENV, stored
from e2e.models import TrainedModel, train_classifier
from modeldeploy.api.status import parse_status
from modeldeploy.rollout import FAIL, PASS
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.pod_http import ApiServerPodHttp
from modeldeploy.shell.preflight import run_preflight
from modeldeploy.validation import load_spec

pytestmark = pytest.mark.cluster

NAME = "iris"


@pytest.fixture(scope="module")
def trained(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    model = train_classifier(tmp_path_factory.mktemp("models") / "iris.joblib")
    return stored(cluster.model_store, model, "reconcile/iris/model.joblib")


def manifest(model: TrainedModel, replicas: int = 2, version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {
                "name": "iris",
                "version": version,
                "uri": model.uri,
                "format": "sklearn",
                "sha256": model.sha256,
            },
            "replicas": replicas,
            "serving": {
                "startupTimeout": "2m",
                "env": [ENDPOINT_ENV] if model.uri.startswith("s3://") else [],
            },
        },
    }


def phase_is(cluster: Cluster, namespace: str, phase: str, generation: int | None = None) -> Any:
    def probe() -> dict[str, Any] | None:
        body = get_model_deployment(cluster, namespace, NAME)
        status = body.get("status") or {}
        expected_generation = generation or body["metadata"]["generation"]
        if status.get("phase") == phase and status.get("observedGeneration") == expected_generation:
            return body
        return None

    return probe


def ready_endpoints(cluster: Cluster, namespace: str, service: str) -> list[tuple[str, int]]:
    slices = cluster.get_json(
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        f"?labelSelector=kubernetes.io/service-name={service}"
    )["items"]
    return [(e.ip, e.port) for e in traffic.ready_endpoints(slices, "http")]


def deployments(cluster: Cluster, namespace: str) -> dict[str, Any]:
    items = cluster.get_json(f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
    return {d["metadata"]["name"]: d for d in items}


def test_model_deployment_serves_and_is_kept(
    cluster: Cluster, operator: OperatorProcess, namespace: str, trained: TrainedModel
) -> None:
    apply_model_deployment(cluster, namespace, manifest(trained))
    body = wait_for(phase_is(cluster, namespace, "Ready"), 120, "ModelDeployment Ready")
    status = body["status"]
    revision = status["stable"]["revision"]
    assert status["ready"] == "2/2"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
        "Reconciling": "False",
        "Stalled": "False",
        "PolicyViolation": "False",
    }

    children = deployments(cluster, namespace)
    assert list(children) == [f"{NAME}-{revision}"]
    owner = children[f"{NAME}-{revision}"]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ModelDeployment" and owner["uid"] == body["metadata"]["uid"]

    # The Service clients use has the two ready pods behind it, and they serve the model.
    endpoints = wait_for(
        lambda: (lambda e: e if len(e) == 2 else None)(ready_endpoints(cluster, namespace, NAME)),
        60,
        "two ready endpoints behind the Service",
    )
    for address, port in endpoints:
        response = request_in_cluster(
            cluster,
            "POST",
            f"http://{address}:{port}/v2/models/iris/infer",
            json=trained.infer_request(),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        outputs = {o["name"]: o for o in response.json()["outputs"]}
        assert [int(v) for v in outputs["label"]["data"]] == trained.expected

    # status.url is the client Service's address, and a pod of the cluster reaches the model
    # there, through CoreDNS and kube-proxy (which writes a new Service's rules a moment after
    # its endpoints appear: until then a connection is refused).
    url = status["url"]
    assert url == f"http://{NAME}.{namespace}.svc.cluster.local:80"
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"modeldeploy.io/name={NAME}")
    pod = pods.items[0].metadata.name
    ask = (
        "import urllib.request; "
        f"print(urllib.request.urlopen('{url}/v2/health/ready', timeout=10).status)"
    )

    def answered() -> bool:
        try:
            out = cluster.kubectl("-n", namespace, "exec", pod, "--", "python3", "-c", ask)
        except AssertionError:
            return False
        return out.strip() == "200"

    wait_for(answered, 60, f"a pod of the cluster answered at {url}")

    # Prometheus discovered the pods through the API server and scraped their counters.
    if cluster.prometheus_url:
        selector = f'revision="{revision}",operation="infer"'
        query = f"sum(modeldeploy_serving_requests_total{{{selector}}})"

        def scraped() -> float | None:
            result = requests.get(
                f"{cluster.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
            ).json()["data"]["result"]
            value = float(result[0]["value"][1]) if result else 0.0
            return value if value >= 2 else None

        wait_for(scraped, 60, "both pods' request counters scraped by Prometheus")

    # A deleted child is put back.
    service_uid = cluster.core.read_namespaced_service(NAME, namespace).metadata.uid
    cluster.core.delete_namespaced_service(NAME, namespace)
    wait_for(
        lambda: _uid_changed(cluster, namespace, NAME, service_uid),
        30,
        "Service recreated",
    )
    child = f"{NAME}-{revision}"
    deployment_uid = deployments(cluster, namespace)[child]["metadata"]["uid"]
    cluster.apps.delete_namespaced_deployment(child, namespace)

    def recreated_and_ready() -> bool:
        found = deployments(cluster, namespace).get(child)
        return bool(
            found
            and found["metadata"]["uid"] != deployment_uid
            and found.get("status", {}).get("readyReplicas") == 2
        )

    wait_for(recreated_and_ready, 120, "Deployment recreated with 2 ready replicas")
    wait_for(phase_is(cluster, namespace, "Ready"), 60, "Ready after the Deployment came back")

    # A child edited by hand is put back.
    cluster.apps.patch_namespaced_deployment_scale(
        f"{NAME}-{revision}", namespace, {"spec": {"replicas": 5}}
    )
    wait_for(
        lambda: deployments(cluster, namespace)[f"{NAME}-{revision}"]["spec"]["replicas"] == 2,
        30,
        "replicas restored to the spec's 2",
    )

    # A scale change in the spec scales, without a new revision.
    apply_model_deployment(cluster, namespace, manifest(trained, replicas=3))
    body = wait_for(phase_is(cluster, namespace, "Ready"), 120, "Ready at 3 replicas")
    assert body["status"]["ready"] == "3/3"
    assert body["status"]["stable"]["revision"] == revision


def _uid_changed(cluster: Cluster, namespace: str, name: str, old_uid: str) -> bool:
    try:
        return bool(cluster.core.read_namespaced_service(name, namespace).metadata.uid != old_uid)
    except ApiException:
        return False


@pytest.mark.disruptive
def test_operator_restart_changes_nothing(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    trained: TrainedModel,
    tmp_path: Path,
) -> None:
    apply_model_deployment(cluster, namespace, manifest(trained, replicas=1))
    wait_for(phase_is(cluster, namespace, "Ready"), 120, "ModelDeployment Ready")

    def versions() -> dict[str, str]:
        found = {
            f"deployment/{n}": d["metadata"]["resourceVersion"]
            for n, d in deployments(cluster, namespace).items()
        }
        for service in cluster.get_json(f"/api/v1/namespaces/{namespace}/services")["items"]:
            found[f"service/{service['metadata']['name']}"] = service["metadata"]["resourceVersion"]
        body = get_model_deployment(cluster, namespace, NAME)
        found["modeldeployment"] = body["metadata"]["resourceVersion"]
        return found

    def events_about_it() -> list[str]:
        items = cluster.get_json(f"/api/v1/namespaces/{namespace}/events")["items"]
        return sorted(e["metadata"]["uid"] for e in items if e["involvedObject"]["name"] == NAME)

    before, events_before = versions(), events_about_it()
    operator.restart(cluster.kubeconfig, cluster.prometheus_url)
    wait_for(
        lambda: (namespace, NAME) in operator.reconciled(),
        60,
        "the restarted operator reconciled the object",
    )
    # Nothing of this object's was written: no child, no status, no Event.
    assert versions() == before
    assert events_about_it() == events_before


def test_deleting_the_model_deployment_removes_its_children(
    cluster: Cluster, operator: OperatorProcess, namespace: str, trained: TrainedModel
) -> None:
    apply_model_deployment(cluster, namespace, manifest(trained, replicas=1))
    wait_for(phase_is(cluster, namespace, "Ready"), 120, "ModelDeployment Ready")
    assert deployments(cluster, namespace)
    cluster.kubectl("delete", "-n", namespace, "modeldeployment", NAME, "--wait=true")
    wait_for(lambda: not deployments(cluster, namespace), 60, "Deployments garbage-collected")
    wait_for(
        lambda: (
            not [
                s
                for s in cluster.get_json(f"/api/v1/namespaces/{namespace}/services")["items"]
                if s["metadata"]["name"].startswith(NAME)
            ]
        ),
        60,
        "Services garbage-collected",
    )
    wait_for(
        lambda: not cluster.get_json(f"/api/v1/namespaces/{namespace}/pods")["items"],
        60,
        "pods gone",
    )


def test_a_child_the_api_server_refuses_is_explained_and_retried(
    cluster: Cluster, operator: OperatorProcess, namespace: str, trained: TrainedModel
) -> None:
    """A quota that leaves room for one Service: the refusal reaches an Event in the API
    server's own words, and the operator keeps trying until the quota is lifted."""
    quota = {"metadata": {"name": "one-service"}, "spec": {"hard": {"services": "1"}}}
    cluster.core.create_namespaced_resource_quota(namespace, quota)  # type: ignore[arg-type]
    wait_for(
        lambda: cluster.core.read_namespaced_resource_quota("one-service", namespace).status.hard,
        30,
        "the quota in force",
    )
    apply_model_deployment(cluster, namespace, manifest(trained, replicas=1))

    def apply_failed() -> list[dict[str, Any]]:
        items = cluster.get_json(f"/api/v1/namespaces/{namespace}/events")["items"]
        return [e for e in items if e["reason"] == "ApplyFailed"]

    failed = wait_for(apply_failed, 60, "an ApplyFailed Event")
    assert "exceeded quota" in failed[0]["message"], failed[0]["message"]
    assert failed[0]["type"] == "Warning"

    cluster.core.delete_namespaced_resource_quota("one-service", namespace)

    def services() -> set[str]:
        items = cluster.get_json(f"/api/v1/namespaces/{namespace}/services")["items"]
        return {s["metadata"]["name"] for s in items}

    wait_for(
        lambda: {NAME, f"{NAME}-stable", f"{NAME}-canary"} <= services(),
        90,
        "every Service once the quota is gone",
    )
    wait_for(phase_is(cluster, namespace, "Ready"), 120, "ModelDeployment Ready")


def test_the_preflight_asks_real_pods_through_the_api_server_proxy(
    cluster: Cluster, operator: OperatorProcess, namespace: str, trained: TrainedModel
) -> None:
    """The way an operator outside the cluster reaches pods: the schema of a served model and
    a smoke test of its real answers, right and wrong."""
    apply_model_deployment(cluster, namespace, manifest(trained))
    body = wait_for(phase_is(cluster, namespace, "Ready"), 180, "Ready")
    stable = parse_status(body["status"]).stable
    assert stable is not None
    # The served revision checked as if it were new: against itself, its schema is unchanged.
    serving = stable.revision

    def preflight(expected: list[str]) -> Any:
        smoke = {
            "requests": [
                {
                    "name": "centres",
                    "inputs": [
                        {
                            "name": "input-0",
                            "shape": [len(trained.sample), len(trained.sample[0])],
                            "datatype": "FP64",
                            "data": trained.sample,
                        }
                    ],
                    "expect": {"labels": expected},
                }
            ]
        }
        raw = {**body["spec"], "rollout": {"smokeTest": smoke}}
        return run_preflight(
            Kube(cluster.api_client),
            ApiServerPodHttp(cluster.api_client),
            namespace,
            NAME,
            load_spec(raw),
            serving,
            stable,
        )

    right = preflight([str(label) for label in trained.expected])
    assert right.verdict == PASS, right.message
    assert right.record.schema_changes == []
    assert right.record.smoke_passed == 1

    wrong = preflight(["2", "2", "2"])
    assert wrong.verdict == FAIL and wrong.cause == "SmokeTestFailed", wrong.message
    [failure] = wrong.record.failures or []
    assert failure.got == f"label = {trained.expected}", failure
    assert failure.pod is not None and failure.pod.startswith(f"{NAME}-{serving}-")
