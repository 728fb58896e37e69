"""Scaling a ModelDeployment on an API server that keeps objects as the real one does: through
its scale subresource, as kubectl scale and an autoscaler do, at rest and mid-rollout; the
autoscaler of its autoscaling block made, changed and removed with it; and a direct edit of
what the operator owns taken back."""

from __future__ import annotations

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
AUTOSCALING = {"minReplicas": 2, "maxReplicas": 8, "targets": {"requestsPerSecond": 20}}


class Cluster:
    def __init__(self, server: FakeApiServer) -> None:
        self.server = server
        self.api = api_client(server)
        self.custom = client.CustomObjectsApi(self.api)

    def apply(self, version: str, **spec: Any) -> None:
        body = model_deployment(NAME, version)
        body["spec"].update(spec)
        if self.server.get("modeldeployments", NAME, NAMESPACE) is None:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        else:
            self.patch({"spec": body["spec"]})

    def patch(self, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME, body)

    def scale(self, replicas: int) -> None:
        self.custom.patch_namespaced_custom_object_scale(
            GROUP, VERSION, NAMESPACE, PLURAL, NAME, {"spec": {"replicas": replicas}}
        )

    def read_scale(self) -> dict[str, Any]:
        found: Any = self.custom.get_namespaced_custom_object_scale(
            GROUP, VERSION, NAMESPACE, PLURAL, NAME
        )
        return dict(found)

    def revision_of(self, version: str) -> str:
        return compute_revision(NAME, parse_spec(model_deployment(NAME, version)["spec"]))

    def status(self) -> dict[str, Any]:
        found = self.server.get("modeldeployments", NAME, NAMESPACE) or {}
        return dict(found.get("status") or {})

    def sizes(self) -> dict[str, int]:
        return {
            d["metadata"]["labels"]["modeldeploy.io/revision"]: d["spec"]["replicas"]
            for d in self.server.objects("deployments", NAMESPACE)
        }

    def wait_sizes(self, expected: dict[str, int]) -> None:
        self.server.wait_for(lambda: self.sizes() == expected, timeout=TIMEOUT)

    def wait_status(self, **expected: Any) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            status = self.status()
            return status if all(status.get(k) == v for k, v in expected.items()) else None

        return self.server.wait_for(reached, timeout=TIMEOUT)

    def autoscaler(self) -> dict[str, Any] | None:
        return self.server.get("horizontalpodautoscalers", NAME, NAMESPACE)

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.server.objects("events", NAMESPACE) if e.get("reason") == reason]


@pytest.fixture
def cluster(server: FakeApiServer, kubelet: Kubelet) -> Iterator[Cluster]:
    running = Replica(server, "replica-a").start()
    yield Cluster(server)
    running.stop()


def test_a_scale_moves_the_stable_and_starts_no_rollout(cluster: Cluster) -> None:
    v1 = cluster.revision_of("v1")
    cluster.apply("v1")
    cluster.wait_status(phase="Ready", replicas=4)

    cluster.scale(6)
    cluster.wait_sizes({v1: 6})
    status = cluster.wait_status(phase="Ready", replicas=6, ready="6/6")
    assert status["revision"] == v1
    assert cluster.events("RolloutStarted") == []
    scale = cluster.read_scale()
    assert scale["spec"]["replicas"] == 6
    assert scale["status"] == {"replicas": 6, "selector": f"modeldeploy.io/name={NAME}"}


def test_a_scale_mid_rollout_keeps_the_canarys_share(cluster: Cluster) -> None:
    v1, v2 = cluster.revision_of("v1"), cluster.revision_of("v2")
    cluster.apply("v1")
    cluster.wait_status(phase="Ready")
    cluster.apply("v2")
    held = cluster.wait_status(phase="AwaitingApproval")
    cluster.wait_sizes({v1: 3, v2: 1})

    cluster.scale(8)
    cluster.wait_sizes({v1: 6, v2: 2})
    status = cluster.wait_status(phase="AwaitingApproval", replicas=8)
    assert status["rollout"]["startedAt"] == held["rollout"]["startedAt"]
    assert status["canary"]["revision"] == v2
    assert len(cluster.events("RolloutStarted")) == 1


def test_the_autoscaler_comes_and_goes_with_the_block(cluster: Cluster) -> None:
    cluster.apply("v1", autoscaling=AUTOSCALING)
    made = cluster.server.wait_for(cluster.autoscaler, timeout=TIMEOUT)
    assert made["spec"]["scaleTargetRef"] == {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "name": NAME,
    }
    assert (made["spec"]["minReplicas"], made["spec"]["maxReplicas"]) == (2, 8)
    # Its spec.replicas is still the harness's 4: within the bounds, it is the total.
    cluster.wait_status(phase="Ready", replicas=4)

    cluster.patch({"spec": {"autoscaling": {**AUTOSCALING, "maxReplicas": 3}}})
    cluster.server.wait_for(
        lambda: (cluster.autoscaler() or {}).get("spec", {}).get("maxReplicas") == 3,
        timeout=TIMEOUT,
    )
    # Above the new bound, spec.replicas is held to it until the autoscaler writes it.
    cluster.wait_status(phase="Ready", replicas=3)

    cluster.patch({"spec": {"autoscaling": None}})
    cluster.server.wait_for(lambda: cluster.autoscaler() is None, timeout=TIMEOUT)
    cluster.wait_status(phase="Ready", replicas=4)


def test_direct_edits_of_what_the_operator_owns_are_taken_back(cluster: Cluster) -> None:
    v1 = cluster.revision_of("v1")
    cluster.apply("v1", autoscaling=AUTOSCALING)
    cluster.wait_status(phase="Ready", replicas=4)
    cluster.server.wait_for(cluster.autoscaler, timeout=TIMEOUT)

    apps = client.AppsV1Api(cluster.api)
    apps.patch_namespaced_deployment_scale(f"{NAME}-{v1}", NAMESPACE, {"spec": {"replicas": 1}})
    autoscaling = client.AutoscalingV2Api(cluster.api)
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        NAME, NAMESPACE, {"spec": {"maxReplicas": 100}}
    )
    cluster.wait_sizes({v1: 4})
    cluster.server.wait_for(
        lambda: (cluster.autoscaler() or {}).get("spec", {}).get("maxReplicas") == 8,
        timeout=TIMEOUT,
    )
