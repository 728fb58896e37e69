"""The operator as `modeldeploy-operator` runs it: kopf's login, its ModelDeployment watch and
its webhook server with our handlers, against the fake API server."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from kubernetes import client
from kubernetes.config import kube_config

from e2e.localcluster import pki
from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.shell import config, handlers, kube
from modeldeploy.shell.config import Settings
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, Kubelet, model_deployment

POLICY = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ClusterRolloutPolicy",
    "metadata": {"name": "production"},
    "spec": {
        "namespaceSelector": {"matchLabels": {"tier": "production"}},
        "rules": {"maxStepWeight": 25},
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Operator:
    def __init__(self, server: FakeApiServer, tmp_path: Path) -> None:
        keys = pki.generate(tmp_path / "pki", "node", "127.0.0.1")
        certs = tmp_path / "webhook"
        certs.mkdir()
        shutil.copy(keys.apiserver.cert, certs / "tls.crt")
        shutil.copy(keys.apiserver.key, certs / "tls.key")
        self.ca = keys.ca.cert
        self.port = free_port()
        config.configure(
            Settings(
                webhook_port=self.port,
                webhook_cert_dir=certs,
                lease_namespace=NAMESPACE,
                identity="operator-0",
                pod_transport="apiserver",
            )
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=kopf.run,
            kwargs={"standalone": True, "clusterwide": True, "stop_flag": self._stop},
            name="kopf",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the operator did not stop"

    def review(self, request: dict[str, Any]) -> tuple[int, Any]:
        sent = urllib.request.Request(
            f"https://127.0.0.1:{self.port}/{handlers.WEBHOOK_ID}",
            data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(sent, context=context, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture
def operator(
    server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Operator]:
    # kopf and the operator's own client both log in from the kubeconfig, as outside a cluster.
    kubeconfig = str(server.kubeconfig(tmp_path / "kubeconfig"))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    # The client library reads KUBECONFIG once, when it is imported.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    default = client.Configuration.get_default_copy()
    kube.load_config()
    monkeypatch.setattr(handlers, "_controller", None)
    handlers.serve_admission()
    running = Operator(server, tmp_path)
    try:
        yield running
    finally:
        running.stop()
        config.configure(Settings())
        client.Configuration.set_default(default)


def review_of(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    meta = {**obj["metadata"], "namespace": namespace}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": GROUP, "version": VERSION, "kind": "ModelDeployment"},
            "resource": {"group": GROUP, "version": VERSION, "resource": PLURAL},
            "operation": "CREATE",
            "namespace": namespace,
            "name": meta["name"],
            "object": {**obj, "metadata": meta},
            "userInfo": {"username": "author", "groups": ["system:authenticated"]},
        },
    }


def test_kopf_answers_reviews_and_carries_the_model_deployment_watch(
    server: FakeApiServer, operator: Operator, kubelet: Kubelet
) -> None:
    core = client.CoreV1Api(api_client(server))
    core.create_namespace({"metadata": {"name": "prod", "labels": {"tier": "production"}}})
    custom = client.CustomObjectsApi(api_client(server))
    custom.create_cluster_custom_object(GROUP, VERSION, "clusterrolloutpolicies", POLICY)
    operator.start()

    bold = model_deployment("iris", "v1")
    bold["spec"]["rollout"]["steps"] = [{"weight": 50}]

    def refused() -> Any:
        try:
            status, answer = operator.review(review_of(bold, "prod"))
        except (ConnectionError, urllib.error.URLError):
            return None  # not serving yet
        return answer["response"] if status == 200 and not answer["response"]["allowed"] else None

    response = server.wait_for(refused, timeout=30)
    assert response["uid"] == "u-1" and response["status"]["code"] == 422
    assert "policy production, rule maxStepWeight" in response["status"]["message"]

    status, allowed = operator.review(review_of(bold, NAMESPACE))
    assert status == 200 and allowed["response"]["allowed"]
    assert "25% of the pods" not in json.dumps(allowed)  # 50% of 4 pods is exact: no warning

    # kopf's watch hands the object to the controller, whose workers reconcile it.
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, model_deployment("iris", "v1")
    )
    server.wait_for(
        lambda: (
            (server.get("modeldeployments", "iris", NAMESPACE) or {}).get("status", {}).get("phase")
            == "Ready"
        ),
        timeout=30,
    )


APPROVED_POLICY = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "ClusterRolloutPolicy",
    "metadata": {"name": "approved"},
    "spec": {
        "namespaceSelector": {"matchLabels": {"tier": "approved"}},
        "rules": {"approvers": {"groups": ["release-managers"]}},
    },
}


def test_kopf_refuses_an_approval_by_someone_the_policy_does_not_name(
    server: FakeApiServer, operator: Operator
) -> None:
    core = client.CoreV1Api(api_client(server))
    core.create_namespace({"metadata": {"name": "shop", "labels": {"tier": "approved"}}})
    custom = client.CustomObjectsApi(api_client(server))
    custom.create_cluster_custom_object(GROUP, VERSION, "clusterrolloutpolicies", APPROVED_POLICY)
    operator.start()
    old = model_deployment("iris", "v2")
    old["metadata"]["namespace"] = "shop"

    def promote(user: str, groups: list[str], approved_by: str) -> dict[str, Any]:
        new = json.loads(json.dumps(old))
        new["metadata"]["annotations"] = {
            "modeldeploy.io/promote": "step@1",
            "modeldeploy.io/approved-by": approved_by,
        }
        review = review_of(new, "shop")
        review["request"] |= {
            "operation": "UPDATE",
            "oldObject": old,
            "userInfo": {"username": user, "groups": groups},
        }
        return review

    def answer(review: dict[str, Any]) -> Any:
        try:
            status, reply = operator.review(review)
        except (ConnectionError, urllib.error.URLError):
            return None  # not serving yet
        return reply["response"] if status == 200 else None

    # The author approves their own rollout, naming themselves: refused.
    refused = server.wait_for(
        lambda: (
            (r := answer(promote("author", ["system:authenticated"], "author")))
            and not r["allowed"]
            and r
        ),
        timeout=30,
    )
    assert "policy approved, rule approvers: author may not approve" in refused["status"]["message"]
    # A release manager, naming someone else: refused; naming themselves: allowed.
    forged = answer(promote("rm", ["release-managers"], "author"))
    assert not forged["allowed"] and "approved-by=rm" in forged["status"]["message"]
    assert answer(promote("rm", ["release-managers", "system:authenticated"], "rm"))["allowed"]
