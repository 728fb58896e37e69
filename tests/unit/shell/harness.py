"""The operator's shell, assembled as the kopf handlers assemble it, against the fake API server.

A `Replica` is one operator process: its controller (watches, stores, queue, workers, the
reconcile), its ModelDeployment watch (which kopf carries in the operator, and our own
list-watch carries here) and, when asked, its leader election. `Kubelet` stands in for the
Deployment controller and the kubelet, which the fake server has not: it reports every
Deployment's pods Ready, unless told to hold a revision back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, GROUP, PLURAL, VERSION
from modeldeploy.runtime.leader import LeaderElector, LeaseTiming
from modeldeploy.runtime.listwatch import Body, Informer
from modeldeploy.shell.config import Settings
from modeldeploy.shell.controller import Controller
from modeldeploy.shell.kube import Kube
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "team"
LEASE = "modeldeploy-operator"
# Short enough for a standby to take over within a test, in the order the elector requires.
TIMING = LeaseTiming(lease_duration_s=2.0, renew_deadline_s=1.5, retry_period_s=0.2)


def install_crds(server: FakeApiServer) -> None:
    """The project's own CRDs, created through the API as `kubectl apply` would."""
    extensions = client.ApiextensionsV1Api(api_client(server))
    for path in sorted((REPO / "crds").glob("*.yaml")):
        extensions.create_custom_resource_definition(yaml.safe_load(path.read_text()))
    client.CoreV1Api(api_client(server)).create_namespace({"metadata": {"name": NAMESPACE}})


def model_deployment(
    name: str, version: str, replicas: int = 4, strategy: str = "canary"
) -> dict[str, Any]:
    """A rollout that holds for an approval, so that a test finds it mid-way: a canary at 25%
    (one pod of four), or a blue/green preview that passed its second of checks."""
    rollout: dict[str, Any] = {
        "interval": "10s",
        # The schema comparison asks the pods, which the fake server has none of.
        "schemaChange": "Allow",
    }
    if strategy == "blueGreen":
        rollout |= {
            "interval": "1s",
            "strategy": "blueGreen",
            "blueGreen": {"previewDuration": "1s", "approval": "required"},
        }
    else:
        rollout["steps"] = [{"weight": 25, "approval": "required"}, {"weight": 50}]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": {
                "name": "iris",
                "version": version,
                "uri": "s3://models/iris",
                "format": "sklearn",
            },
            "replicas": replicas,
            "rollout": rollout,
        },
    }


class _ModelDeploymentSink:
    """Hands what the watch sees to the controller, as the kopf handler does."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Any]:
        for body in bodies:
            self.controller.model_deployment_event(None, body)
        return []

    def upsert(self, body: Body) -> Iterable[Any]:
        self.controller.model_deployment_event("MODIFIED", body)
        return []

    def delete(self, body: Body) -> Iterable[Any]:
        self.controller.model_deployment_event("DELETED", body)
        return []


class Replica:
    def __init__(
        self,
        server: FakeApiServer,
        identity: str,
        leader_elect: bool = False,
        default_serving_image: str = DEFAULT_SERVING_IMAGE,
    ) -> None:
        self.api = api_client(server)
        self.settings = Settings(
            default_serving_image=default_serving_image,
            resync_s=3600.0,
            workers=2,
            watch_timeout_s=60,
            leader_elect=leader_elect,
            lease_namespace=NAMESPACE,
            lease_name=LEASE,
            identity=identity,
            pod_transport="apiserver",
            conflict_retry_s=0.2,
        )
        self.controller = Controller(self.settings, kube=Kube(self.api))
        custom = client.CustomObjectsApi(self.api)
        self.model_watch = Informer(
            "ModelDeployment",
            _ModelDeploymentSink(self.controller),
            lambda _key: None,
            functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, PLURAL),
            watch_timeout_s=60,
        )
        self.elector: LeaderElector | None = None
        if leader_elect:
            self.elector = LeaderElector(
                self.api,
                NAMESPACE,
                LEASE,
                identity,
                on_started_leading=self.controller.start_workers,
                on_stopped_leading=self.die,
                timing=TIMING,
            )

    def start(self) -> Replica:
        self.controller.start_caches()
        self.model_watch.start()
        if self.elector is not None:
            self.elector.start()
        else:
            self.controller.start_workers()
        return self

    @property
    def leading(self) -> bool:
        return self.elector is None or self.elector.leading

    def die(self) -> None:
        """Stops at once, as a killed process does: the Lease is not handed back."""
        if self.elector is not None:
            self.elector._stop.set()
        self.model_watch.stop()
        self.controller.stop()

    def stop(self) -> None:
        if self.elector is not None:
            self.elector.stop()
        self.model_watch.stop()
        self.controller.stop()


class Kubelet:
    """Reports each Deployment's pods as Ready at its size, as the Deployment controller and
    the kubelet would, except for revisions held back."""

    def __init__(self, server: FakeApiServer) -> None:
        self.server = server
        self.apps = client.AppsV1Api(api_client(server))
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for deployment in self.server.objects("deployments"):
                self._report(deployment)
            self._stop.wait(0.02)

    def _report(self, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        revision = (meta.get("labels") or {}).get("modeldeploy.io/revision", "")
        replicas = int(deployment["spec"].get("replicas", 1))
        ready = 0 if revision in self.held else replicas
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
        }
        current = deployment.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        try:
            self.apps.patch_namespaced_deployment_status(
                meta["name"], meta["namespace"], {"status": status}
            )
        except client.ApiException as error:
            if error.status != 404:  # deleted meanwhile
                raise
