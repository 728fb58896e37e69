"""Server-side apply: creation, ownership, conflicts, force and removal of dropped fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import APPLY, CONFIGMAPS, DEPLOYMENTS, MERGE, MODELS, call, model


def deployment(replicas: int = 1, image: str = "app:1", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "default", **extra.pop("metadata", {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            **extra,
        },
    }


def apply(
    server: FakeApiServer, path: str, body: dict[str, Any], manager: str, force: bool = False
) -> Any:
    query = {"fieldManager": manager}
    if force:
        query["force"] = "true"
    return call(server, "PATCH", path, body, content_type=APPLY, query=query)


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def test_apply_creates_the_object_and_records_its_fields(server: FakeApiServer) -> None:
    created = apply(server, f"{DEPLOYMENTS}/d", deployment(), "operator")

    assert created.status == 201
    entry = owners(created.body)["operator"]
    assert entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}
    }


def test_apply_through_the_kubernetes_client(apps: Any) -> None:
    written = apps.patch_namespaced_deployment(
        "d",
        "default",
        deployment(replicas=2),
        field_manager="operator",
        force=True,
        _content_type=APPLY,
    )

    assert written.spec.replicas == 2
    assert written.metadata.managed_fields[0].manager == "operator"


def test_apply_needs_a_field_manager(server: FakeApiServer) -> None:
    answer = call(server, "PATCH", f"{DEPLOYMENTS}/d", deployment(), content_type=APPLY)

    assert answer.status == 400
    assert "fieldManager is required" in answer.body["message"]


def test_apply_accepts_yaml(server: FakeApiServer) -> None:
    body = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
        "data:\n  when: 2024-01-01T00:00:00Z\n"
    )

    created = call(
        server, "PATCH", f"{CONFIGMAPS}/a", body, content_type=APPLY, query={"fieldManager": "m"}
    )

    assert created.status == 201
    assert created.body["data"] == {"when": "2024-01-01T00:00:00Z"}


def test_changing_a_field_another_manager_owns_is_a_conflict(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator")

    refused = apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=5), "autoscaler")

    assert refused.status == 409
    assert refused.body["reason"] == "Conflict"
    assert refused.body["message"] == (
        'Apply failed with 1 conflict: conflict with "operator" using apps/v1: .spec.replicas'
    )
    cause = refused.body["details"]["causes"][0]
    assert cause == {
        "type": "FieldManagerConflict",
        "message": 'conflict with "operator" using apps/v1',
        "field": ".spec.replicas",
    }
    assert server.get("deployments", "d", "default")["spec"]["replicas"] == 1  # type: ignore[index]


def test_setting_an_owned_field_to_the_same_value_shares_it(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator")

    shared = apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "other")

    assert shared.status == 200
    entries = owners(shared.body)
    assert "f:replicas" in entries["operator"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in entries["other"]["fieldsV1"]["f:spec"]


def test_force_takes_the_field_from_its_owner(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator")

    forced = apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=5), "autoscaler", force=True)

    assert forced.status == 200
    assert forced.body["spec"]["replicas"] == 5
    entries = owners(forced.body)
    assert "f:replicas" not in entries["operator"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in entries["autoscaler"]["fieldsV1"]["f:spec"]
    # Having lost the field, the first manager may now apply without naming it.
    assert apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=5), "operator").status == 200


def test_an_update_takes_ownership_and_then_conflicts_with_apply(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator")
    call(
        server,
        "PATCH",
        f"{DEPLOYMENTS}/d",
        {"spec": {"replicas": 3}},
        content_type=MERGE,
        query={"fieldManager": "kubectl-edit"},
    )

    refused = apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator")
    forced = apply(server, f"{DEPLOYMENTS}/d", deployment(replicas=1), "operator", force=True)

    assert refused.status == 409
    assert '"kubectl-edit"' in refused.body["message"]
    assert forced.body["spec"]["replicas"] == 1
    assert "kubectl-edit" not in owners(forced.body)


def test_fields_no_longer_applied_are_removed(server: FakeApiServer) -> None:
    first = deployment(metadata={"labels": {"a": "1", "b": "2"}})
    first["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "s:1"})
    apply(server, f"{DEPLOYMENTS}/d", first, "operator")

    second = apply(
        server, f"{DEPLOYMENTS}/d", deployment(metadata={"labels": {"a": "1"}}), "operator"
    )

    assert second.body["metadata"]["labels"] == {"a": "1"}
    containers = second.body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    fields = owners(second.body)["operator"]["fieldsV1"]
    assert "f:b" not in fields["f:metadata"]["f:labels"]


def test_a_dropped_field_someone_else_also_owns_stays(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(metadata={"labels": {"a": "1"}}), "operator")
    apply(server, f"{DEPLOYMENTS}/d", deployment(metadata={"labels": {"a": "1"}}), "other")

    dropped = apply(server, f"{DEPLOYMENTS}/d", deployment(), "operator")

    assert dropped.body["metadata"]["labels"] == {"a": "1"}


def test_fields_set_by_others_survive_an_apply(server: FakeApiServer) -> None:
    apply(server, f"{DEPLOYMENTS}/d", deployment(), "operator")
    call(
        server,
        "PATCH",
        f"{DEPLOYMENTS}/d",
        {"metadata": {"annotations": {"note": "x"}}},
        content_type=MERGE,
    )

    again = apply(server, f"{DEPLOYMENTS}/d", deployment(image="app:2"), "operator")

    assert again.body["metadata"]["annotations"] == {"note": "x"}
    assert again.body["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"


def test_reapplying_the_same_configuration_is_a_no_op(server: FakeApiServer) -> None:
    first = apply(server, f"{DEPLOYMENTS}/d", deployment(), "operator")

    second = apply(server, f"{DEPLOYMENTS}/d", deployment(), "operator")

    assert second.body["metadata"]["resourceVersion"] == first.body["metadata"]["resourceVersion"]


def test_apply_to_the_main_resource_ignores_status(server: FakeApiServer) -> None:
    body = model("m")
    body["status"] = {"phase": "Ready"}

    created = apply(server, f"{MODELS}/m", body, "operator")
    status = apply(
        server,
        f"{MODELS}/m/status",
        {**model("m"), "status": {"phase": "Ready"}},
        "operator",
    )

    assert "status" not in created.body
    assert status.body["status"] == {"phase": "Ready"}
    entry = [e for e in status.body["metadata"]["managedFields"] if e.get("subresource")]
    assert entry[0]["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_apply_conflict_through_the_kubernetes_client(apps: Any) -> None:
    apps.patch_namespaced_deployment(
        "d", "default", deployment(replicas=1), field_manager="a", _content_type=APPLY
    )

    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment(
            "d", "default", deployment(replicas=2), field_manager="b", _content_type=APPLY
        )

    assert caught.value.status == 409
    assert (
        json.loads(caught.value.body or "{}")["details"]["causes"][0]["field"] == ".spec.replicas"
    )
