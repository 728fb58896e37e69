"""Another's Service or Deployment in a child's name: the operator leaves it as it is, says
why once, and carries on once it is gone."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import GROUP, PLURAL, VERSION, parse_spec
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, Kubelet, Replica, model_deployment

NAME = "iris"
TIMEOUT = 20.0
OTHER_OWNER = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "someone-elses",
    "uid": "0b1d2c3e-0000-4000-8000-000000000001",
    "controller": True,
}


def revision(version: str) -> str:
    return compute_revision(NAME, parse_spec(model_deployment(NAME, version)["spec"]))


def foreign_service(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"app": "payments"},
            "ports": [{"name": "http", "port": 8080, "targetPort": 8080}],
        },
    }


def foreign_deployment(name: str) -> dict[str, Any]:
    # Wearing the operator's labels, as a copied manifest would: labels are no claim.
    labels = {
        "modeldeploy.io/name": NAME,
        "modeldeploy.io/revision": revision("v1"),
        "app.kubernetes.io/managed-by": "modeldeploy",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": labels,
            "ownerReferences": [OTHER_OWNER],
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "payments"}},
            "template": {
                "metadata": {"labels": {"app": "payments"}},
                "spec": {"containers": [{"name": "app", "image": "payments:1"}]},
            },
        },
    }


@pytest.fixture
def replica(server: FakeApiServer) -> Iterator[Replica]:
    running = Replica(server, "replica-a").start()
    yield running
    running.stop()


def _kept(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "spec": obj["spec"],
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "ownerReferences": meta.get("ownerReferences"),
        "resourceVersion": meta["resourceVersion"],
    }


def test_another_s_service_and_deployment_are_left_untouched_until_they_are_gone(
    server: FakeApiServer, kubelet: Kubelet, replica: Replica
) -> None:
    api = api_client(server)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    deployment_name = f"{NAME}-{revision('v1')}"
    core.create_namespaced_service(NAMESPACE, foreign_service({"app": "payments"}))
    apps.create_namespaced_deployment(NAMESPACE, foreign_deployment(deployment_name))
    service_before = copy.deepcopy(server.get("services", NAME, NAMESPACE))
    deployment_before = copy.deepcopy(server.get("deployments", deployment_name, NAMESPACE))
    assert service_before is not None and deployment_before is not None

    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, model_deployment(NAME, "v1")
    )

    def status() -> dict[str, Any]:
        return dict((server.get("modeldeployments", NAME, NAMESPACE) or {}).get("status") or {})

    held = server.wait_for(lambda: (s := status()).get("phase") == "Failed" and s, timeout=TIMEOUT)
    stalled = next(c for c in held["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "ChildConflict"
    assert f"Service {NAME} exists and has no controller" in held["message"]
    assert f"Deployment {deployment_name} exists and is controlled by ReplicaSet" in held["message"]

    # It looks again on its own, several times, and says so once.
    service_reads = f"/api/v1/namespaces/{NAMESPACE}/services/{NAME}"
    server.clear_requests()
    server.wait_for(
        lambda: sum(r.method == "GET" and r.path == service_reads for r in server.requests) >= 3,
        timeout=TIMEOUT,
    )
    conflicts = [e for e in server.objects("events", NAMESPACE) if e["reason"] == "ChildConflict"]
    assert len(conflicts) == 1 and conflicts[0]["type"] == "Warning"
    assert f"Service {NAME}" in conflicts[0]["message"]
    # Nothing of either was written: not its selector, labels or owners, not even its version.
    assert _kept(server.get("services", NAME, NAMESPACE) or {}) == _kept(service_before)
    deployment_now = server.get("deployments", deployment_name, NAMESPACE) or {}
    assert _kept(deployment_now)["spec"] == _kept(deployment_before)["spec"]
    assert deployment_now["metadata"]["ownerReferences"] == [OTHER_OWNER]
    assert not any(
        r.method in ("PATCH", "PUT", "DELETE", "POST") and "/services" in r.path
        for r in server.requests
    )

    # Once they are gone, the next look carries on.
    assert server.delete("services", NAME, NAMESPACE)
    assert server.delete("deployments", deployment_name, NAMESPACE)
    ready = server.wait_for(lambda: (s := status()).get("phase") == "Ready" and s, timeout=TIMEOUT)
    assert ready["stable"]["revision"] == revision("v1")
    owned = server.get("services", NAME, NAMESPACE) or {}
    uid = (server.get("modeldeployments", NAME, NAMESPACE) or {})["metadata"]["uid"]
    assert [ref["uid"] for ref in owned["metadata"]["ownerReferences"]] == [uid]


def test_a_deployment_wearing_the_labels_of_a_revision_no_longer_needed_is_not_deleted(
    server: FakeApiServer, kubelet: Kubelet, replica: Replica
) -> None:
    api = api_client(server)
    apps = client.AppsV1Api(api)
    # Named and labelled as a revision of this model, but no child of it.
    stray = foreign_deployment(f"{NAME}-0123456789")
    stray["metadata"]["labels"]["modeldeploy.io/revision"] = "0123456789"
    apps.create_namespaced_deployment(NAMESPACE, stray)
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, model_deployment(NAME, "v1")
    )
    server.wait_for(
        lambda: (
            (server.get("modeldeployments", NAME, NAMESPACE) or {}).get("status", {}).get("phase")
            == "Ready"
        ),
        timeout=TIMEOUT,
    )
    assert server.get("deployments", f"{NAME}-0123456789", NAMESPACE) is not None
