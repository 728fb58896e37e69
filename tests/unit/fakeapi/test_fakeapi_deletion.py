"""Deletion: finalizers, owner-reference garbage collection, namespaces."""

from __future__ import annotations

from typing import Any

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import (
    CONFIGMAPS,
    DEPLOYMENTS,
    JSON_PATCH,
    MERGE,
    MODEL,
    MODELS,
    WatchStream,
    call,
    configmap,
    model,
)


def _owned(name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    body = configmap(name)
    body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
        for owner in owners
    ]
    return body


def test_delete_without_finalizers_removes_at_once(fake_api: FakeApiServer) -> None:
    call(fake_api, "POST", CONFIGMAPS, configmap("a"))

    deleted = call(fake_api, "DELETE", f"{CONFIGMAPS}/a")

    assert deleted.status == 200
    assert deleted.body["kind"] == "Status" and deleted.body["status"] == "Success"
    assert fake_api.get("configmaps", "a", "default") is None
    assert call(fake_api, "DELETE", f"{CONFIGMAPS}/a").status == 404


def test_finalizers_hold_the_object_until_emptied(server: FakeApiServer) -> None:
    call(server, "POST", MODELS, model("m", finalizers=["example.com/cleanup"]))

    with WatchStream(server, MODELS, resourceVersion=server.resource_version) as stream:
        pending = call(server, "DELETE", f"{MODELS}/m")
        marked = stream.next()
        held = server.get(MODEL, "m", "default")
        assert held is not None
        refused = call(
            server,
            "PATCH",
            f"{MODELS}/m",
            {"metadata": {"finalizers": ["example.com/cleanup", "example.com/late"]}},
            content_type=MERGE,
        )
        call(server, "PATCH", f"{MODELS}/m", {"metadata": {"finalizers": None}}, content_type=MERGE)
        modified, deleted = stream.next(), stream.next()

    assert pending.status == 200
    assert pending.body["metadata"]["deletionTimestamp"]
    assert held["metadata"]["deletionTimestamp"] == pending.body["metadata"]["deletionTimestamp"]
    assert held["metadata"]["generation"] == 2
    assert marked is not None and marked["type"] == "MODIFIED"
    assert refused.status == 422
    assert modified is not None and modified["type"] == "MODIFIED"
    assert deleted is not None and deleted["type"] == "DELETED"
    assert server.get(MODEL, "m", "default") is None


def test_deleting_an_owner_collects_its_dependents(fake_api: FakeApiServer) -> None:
    owner = call(fake_api, "POST", DEPLOYMENTS, {"metadata": {"name": "d"}, "spec": {}}).body
    call(fake_api, "POST", CONFIGMAPS, _owned("child", owner))
    grandchild_owner = fake_api.get("configmaps", "child", "default")
    assert grandchild_owner is not None
    call(fake_api, "POST", CONFIGMAPS, _owned("grandchild", grandchild_owner))
    call(fake_api, "POST", CONFIGMAPS, configmap("unrelated"))

    call(fake_api, "DELETE", f"{DEPLOYMENTS}/d")

    names = [o["metadata"]["name"] for o in fake_api.objects("configmaps", "default")]
    assert names == ["unrelated"]


def test_a_dependent_with_another_living_owner_only_loses_the_reference(
    fake_api: FakeApiServer,
) -> None:
    first = call(fake_api, "POST", CONFIGMAPS, configmap("first")).body
    second = call(fake_api, "POST", CONFIGMAPS, configmap("second")).body
    call(fake_api, "POST", CONFIGMAPS, _owned("shared", first, second))

    call(fake_api, "DELETE", f"{CONFIGMAPS}/first")

    shared = fake_api.get("configmaps", "shared", "default")
    assert shared is not None
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["second"]


def test_orphan_propagation_keeps_dependents(fake_api: FakeApiServer) -> None:
    owner = call(fake_api, "POST", CONFIGMAPS, configmap("owner")).body
    call(fake_api, "POST", CONFIGMAPS, _owned("child", owner))

    call(
        fake_api,
        "DELETE",
        f"{CONFIGMAPS}/owner",
        {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"},
    )

    child = fake_api.get("configmaps", "child", "default")
    assert child is not None
    assert "ownerReferences" not in child["metadata"]


def test_garbage_collection_waits_for_the_owners_finalizers(server: FakeApiServer) -> None:
    owner = call(server, "POST", MODELS, model("m", finalizers=["x/y"])).body
    call(server, "POST", CONFIGMAPS, _owned("child", owner))

    call(server, "DELETE", f"{MODELS}/m")
    still_there = server.get("configmaps", "child", "default")
    call(
        server,
        "PATCH",
        f"{MODELS}/m",
        [{"op": "remove", "path": "/metadata/finalizers"}],
        content_type=JSON_PATCH,
    )

    assert still_there is not None
    assert server.get("configmaps", "child", "default") is None


def test_delete_preconditions(fake_api: FakeApiServer) -> None:
    created = call(fake_api, "POST", CONFIGMAPS, configmap("a")).body

    refused = call(
        fake_api,
        "DELETE",
        f"{CONFIGMAPS}/a",
        {"preconditions": {"uid": "not-the-uid"}},
    )
    accepted = call(
        fake_api,
        "DELETE",
        f"{CONFIGMAPS}/a",
        {"preconditions": {"resourceVersion": created["metadata"]["resourceVersion"]}},
    )

    assert refused.status == 409
    assert accepted.status == 200


def test_deleting_a_namespace_deletes_its_contents(fake_api: FakeApiServer, core: Any) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", configmap("a"))
    held = configmap("held")
    held["metadata"]["finalizers"] = ["x/y"]
    core.create_namespaced_config_map("team", held)

    core.delete_namespace("team")
    terminating = core.read_namespace("team")
    refused = call(fake_api, "POST", "/api/v1/namespaces/team/configmaps", configmap("new"))
    core.patch_namespaced_config_map("held", "team", {"metadata": {"finalizers": None}})

    assert terminating.status.phase == "Terminating"
    assert [o["metadata"]["name"] for o in fake_api.objects("configmaps", "team")] == []
    assert refused.status == 403
    assert fake_api.get("namespaces", "team") is None


def test_delete_collection_with_a_selector(fake_api: FakeApiServer, core: Any) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map("default", configmap(name, labels={"tier": tier}))

    core.delete_collection_namespaced_config_map("default", label_selector="tier=x")

    assert [o["metadata"]["name"] for o in fake_api.objects("configmaps")] == ["c"]
