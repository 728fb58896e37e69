"""Serving pods as real clusters run them: a model in a private bucket read with credentials
from a Secret, under a service account, with the pod fields platform teams set, in a namespace
that enforces the restricted Pod Security Standard, answering through its Service's cluster IP."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from e2e.fixtures import (
    Cluster,
    apply_model_deployment,
    kubectl_binary,
    request_in_cluster,
    wait_for,
)
from e2e.models import train_classifier
from e2e.rollouts import INFER_PATH, RolloutOptions, model_deployment, wait_ready

pytestmark = pytest.mark.cluster

BUCKET = "private-models"
SECRET = "bucket-reader"


def reader_secret(namespace: str, key: tuple[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": namespace},
        "stringData": {"access-key": key[0], "secret-key": key[1]},
    }


def with_pod_fields(manifest: dict[str, Any], credentials: bool) -> dict[str, Any]:
    serving = manifest["spec"]["serving"]
    if credentials:
        serving["env"] += [
            {
                "name": "AWS_ACCESS_KEY_ID",
                "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "access-key"}},
            },
            {
                "name": "AWS_SECRET_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "secret-key"}},
            },
        ]
    serving.update(
        {
            "serviceAccountName": "model-reader",
            "envFrom": [{"configMapRef": {"name": "tuning"}}],
            "volumes": [{"name": "labels", "configMap": {"name": "tuning"}}],
            "volumeMounts": [{"name": "labels", "mountPath": "/etc/tuning", "readOnly": True}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml"}],
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                }
            ],
            "podLabels": {"team": "risk"},
            "podAnnotations": {"example.com/owner": "risk-team"},
            "disruptionBudget": {"maxUnavailable": 1},
        }
    )
    return manifest


def infer_through_cluster_ip(cluster: Cluster, namespace: str, name: str, body: Any) -> Any:
    """The first answer through the Service's cluster IP; kube-proxy's rules follow the pods'
    readiness a moment after the ModelDeployment reports Ready."""
    service: Any = cluster.core.read_namespaced_service(name, namespace)
    url = f"http://{service.spec.cluster_ip}{INFER_PATH}"

    def answer() -> Any:
        try:
            response = request_in_cluster(cluster, "POST", url, json=body, timeout=10)
        except requests.ConnectionError:
            return None
        return response.json() if response.status_code == 200 else None

    return wait_for(answer, 30, f"an answer from {url}", interval=0.5)


def pod_logs(cluster: Cluster, namespace: str, selector: str) -> str:
    result = subprocess.run(
        [kubectl_binary(), f"--kubeconfig={cluster.kubeconfig}", "-n", namespace, "logs",
         "-l", selector, "--tail=50"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return result.stdout


def test_a_private_model_is_served_with_credentials_from_a_secret(
    cluster: Cluster, operator: Any, namespace: str, tmp_path: Path
) -> None:
    store = cluster.model_store
    trained = train_classifier(tmp_path / "private.joblib", seed=4)
    model = dataclasses.replace(
        trained, stored_at=store.put(trained.path, "risk/v1/model.joblib", bucket=BUCKET)
    )
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input_text=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    reader_secret(namespace, store.reader_key(BUCKET)),
                    {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {"name": "model-reader", "namespace": namespace},
                    },
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "tuning", "namespace": namespace},
                        "data": {"SERVING_LOG_LEVEL": "info"},
                    },
                ],
            }
        ),
    )
    options = RolloutOptions()
    manifest = with_pod_fields(model_deployment("risk", model, "v1", options, replicas=2), True)
    apply_model_deployment(cluster, namespace, manifest)
    status = wait_ready(cluster, namespace, "risk", timeout=180)
    revision = status["stable"]["revision"]

    # The pods carry what the spec asked for, and the API server let them in under the
    # restricted standard.
    pods: Any = cluster.core.list_namespaced_pod(
        namespace, label_selector=f"modeldeploy.io/revision={revision}"
    )
    assert len(pods.items) == 2
    live = pods.items[0]
    assert live.spec.service_account_name == "model-reader"
    assert live.spec.automount_service_account_token is True
    assert live.metadata.labels["team"] == "risk"
    assert live.metadata.annotations["example.com/owner"] == "risk-team"
    assert live.spec.node_selector == {"kubernetes.io/os": "linux"}
    assert any(t.key == "dedicated" for t in live.spec.tolerations)
    container = live.spec.containers[0]
    env = {e.name: e for e in container.env}
    assert env["AWS_ACCESS_KEY_ID"].value_from.secret_key_ref.name == SECRET
    assert "/etc/tuning" in {m.mount_path for m in container.volume_mounts}
    assert container.security_context.run_as_non_root is True
    budget: Any = cluster.get_json(
        f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/risk-{revision}"
    )
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["status"]["expectedPods"] == 2

    answer = infer_through_cluster_ip(cluster, namespace, "risk", model.infer_request())
    labels = next(o for o in answer["outputs"] if o["name"] == "label")["data"]
    assert labels == model.expected, answer

    # The same model without the key is refused by the store: the pods never become ready
    # and say why.
    anonymous = with_pod_fields(
        model_deployment("risk-anonymous", model, "v1", options, replicas=1), False
    )
    apply_model_deployment(cluster, namespace, anonymous)
    wait_for(
        lambda: (
            "403 Forbidden" in pod_logs(cluster, namespace, "modeldeploy.io/name=risk-anonymous")
        ),
        120,
        "the anonymous pod's refusal in its log",
    )
    md = cast(
        dict[str, Any],
        cluster.custom.get_namespaced_custom_object(
            "modeldeploy.io", "v1alpha1", namespace, "modeldeployments", "risk-anonymous"
        ),
    )
    assert md["status"]["phase"] != "Ready", md["status"]
