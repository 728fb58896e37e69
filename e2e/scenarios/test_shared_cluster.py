"""A namespace shared with other teams: a ModelDeployment whose children's names are taken by
someone else's Service and Deployment leaves both alone (their selector, owners and labels as
they were, nothing garbage-collected when the ModelDeployment goes), says why once, and
deploys once they are gone."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import (
    Cluster,
    apply_model_deployment,
    get_model_deployment,
    reconciles_of,
    wait_for,
)
from e2e.model_store import ENDPOINT_ENV, stored
from e2e.models import train_classifier
from e2e.rollouts import events_with_reason, status_of, wait_ready

pytestmark = pytest.mark.cluster

NAME = "shared"


def manifest(uri: str, sha256: str) -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {"name": "iris", "version": "v1", "uri": uri, "format": "sklearn",
                      "sha256": sha256},
            "replicas": 1,
            "serving": {"startupTimeout": "1m", "env": [ENDPOINT_ENV]},
        },
    }  # fmt: skip


def someone_elses(namespace: str) -> list[dict[str, Any]]:
    """A team's own Service and Deployment, under the names the ModelDeployment's client and
    stable Services take."""
    labels = {"app": "payments"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{NAME}-stable", "namespace": namespace, "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
        },
    ]


def _kept(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "selector": obj["spec"].get("selector"),
        "labels": meta.get("labels"),
        "ownerReferences": meta.get("ownerReferences"),
        "resourceVersion": meta["resourceVersion"],
    }


def test_someone_elses_objects_in_a_childs_name_are_never_taken_over(
    cluster: Cluster, operator: Any, namespace: str, tmp_path: Path
) -> None:
    model = stored(cluster.model_store, train_classifier(tmp_path / "v1.joblib"), "shared/v1")
    theirs = someone_elses(namespace)
    cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(theirs))

    def service(name: str) -> dict[str, Any]:
        return dict(cluster.get_json(f"/api/v1/namespaces/{namespace}/services/{name}"))

    before = {obj["metadata"]["name"]: _kept(service(obj["metadata"]["name"])) for obj in theirs}

    apply_model_deployment(cluster, namespace, manifest(model.uri, model.sha256))
    held = wait_for(
        lambda: (s := status_of(cluster, namespace, NAME)).get("phase") == "Failed" and s,
        60,
        f"{NAME} held for the names taken",
    )
    assert f"Service {NAME} exists and has no controller" in held["message"], held
    stalled = next(c for c in held["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "ChildConflict"

    # It looks again every half minute or so; the Warning is said once all the same.
    first_looks = copy.deepcopy(held)
    looked = reconciles_of(operator, namespace, NAME)
    wait_for(
        lambda: reconciles_of(operator, namespace, NAME) >= looked + 2,
        120,
        "two more looks at the held ModelDeployment",
    )
    assert status_of(cluster, namespace, NAME) == first_looks
    assert cluster.apps.list_namespaced_deployment(namespace).items == []
    [warning] = events_with_reason(cluster, namespace, NAME, "ChildConflict")
    assert warning["type"] == "Warning" and warning.get("count", 1) == 1
    for name, kept in before.items():
        assert _kept(service(name)) == kept

    # Deleting the ModelDeployment collects nothing of theirs.
    cluster.kubectl("delete", "modeldeployment", NAME, "-n", namespace, "--wait=true")
    for name, kept in before.items():
        assert _kept(service(name)) == kept

    # With the names free, the same ModelDeployment deploys.
    cluster.kubectl("delete", "service", NAME, f"{NAME}-stable", "-n", namespace)
    apply_model_deployment(cluster, namespace, manifest(model.uri, model.sha256))
    status = wait_ready(cluster, namespace, NAME)
    uid = get_model_deployment(cluster, namespace, NAME)["metadata"]["uid"]
    owned = service(NAME)
    assert [ref["uid"] for ref in owned["metadata"]["ownerReferences"]] == [uid]
    assert status["url"].startswith(f"http://{NAME}.{namespace}.svc")
