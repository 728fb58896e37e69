"""Create, read, list, replace and delete through the `kubernetes` client and raw HTTP."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import (
    CONFIGMAPS,
    GROUP,
    MODELS,
    STRATEGIC,
    VERSION,
    call,
    configmap,
    model,
)


def _status(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body or "{}")
    return body


def test_create_then_read_sets_server_fields(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("a", k="v"))
    read = core.read_namespaced_config_map("a", "default")

    assert read.data == {"k": "v"}
    assert read.metadata.uid == created.metadata.uid
    assert read.metadata.creation_timestamp is not None
    assert read.metadata.generation == 1
    assert int(read.metadata.resource_version) > 0
    assert read.metadata.namespace == "default"


def test_resource_versions_come_from_one_increasing_counter(core: Any, apps: Any) -> None:
    first = core.create_namespaced_config_map("default", configmap("a"))
    second = core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    third = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})

    versions = [int(o.metadata.resource_version) for o in (first, second, third)]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_creating_an_existing_name_is_409_already_exists(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("a"))

    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("default", configmap("a"))

    assert caught.value.status == 409
    status = _status(caught.value)
    assert status["kind"] == "Status" and status["status"] == "Failure"
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "a" already exists'
    assert status["details"] == {"name": "a", "kind": "configmaps"}


def test_missing_object_is_404_not_found_with_group_in_the_message(apps: Any) -> None:
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("nope", "default")

    status = _status(caught.value)
    assert caught.value.status == 404
    assert status["reason"] == "NotFound"
    assert status["message"] == 'deployments.apps "nope" not found'
    assert status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_replace_with_a_stale_resource_version_is_409_conflict(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("a", k="1"))
    stale = created.metadata.resource_version
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "2"}})

    body = configmap("a", k="3")
    body["metadata"]["resourceVersion"] = stale
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("a", "default", body)

    assert caught.value.status == 409
    assert _status(caught.value)["reason"] == "Conflict"
    assert "the object has been modified" in _status(caught.value)["message"]
    assert core.read_namespaced_config_map("a", "default").data == {"k": "2"}


def test_replace_with_the_current_resource_version_succeeds(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("a", k="1"))
    body = configmap("a", k="2")
    body["metadata"]["resourceVersion"] = created.metadata.resource_version

    replaced = core.replace_namespaced_config_map("a", "default", body)

    assert replaced.data == {"k": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert replaced.metadata.uid == created.metadata.uid


def test_a_resource_version_inside_a_merge_patch_is_a_precondition(custom: Any) -> None:
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", "modeldeployments", model("m")
    )
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", "modeldeployments", "m", {"spec": {"model": "n"}}
    )

    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            "modeldeployments",
            "m",
            {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}},
        )

    assert caught.value.status == 409


def test_a_custom_resource_put_without_resource_version_is_invalid(
    server: FakeApiServer, core: Any
) -> None:
    call(server, "POST", MODELS, model("m"))

    custom_put = call(server, "PUT", f"{MODELS}/m", model("m", {"model": "n"}))
    builtin_put = core.create_namespaced_config_map("default", configmap("a"))
    replaced = core.replace_namespaced_config_map("a", "default", configmap("a", k="v"))

    assert custom_put.status == 422
    assert custom_put.body["reason"] == "Invalid"
    assert builtin_put.metadata.uid == replaced.metadata.uid


def test_strategic_merge_patch_is_refused_for_custom_resources(server: FakeApiServer) -> None:
    call(server, "POST", MODELS, model("m"))

    refused = call(server, "PATCH", f"{MODELS}/m", {"spec": {}}, content_type=STRATEGIC)

    assert refused.status == 415
    assert refused.body["reason"] == "UnsupportedMediaType"


def test_generate_name_makes_a_unique_name(core: Any) -> None:
    names = {
        core.create_namespaced_config_map(
            "default", {"metadata": {"generateName": "cm-"}}
        ).metadata.name
        for _ in range(5)
    }

    assert len(names) == 5
    assert all(name.startswith("cm-") and len(name) == len("cm-") + 5 for name in names)


def test_invalid_names_and_labels_are_422(core: Any) -> None:
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map("default", configmap("Not_Valid"))
    with pytest.raises(ApiException) as bad_label:
        core.create_namespaced_config_map("default", configmap("ok", labels={"a": "-x-"}))

    assert bad_name.value.status == 422
    assert _status(bad_name.value)["details"]["causes"][0]["field"] == "metadata.name"
    assert bad_label.value.status == 422


def test_creating_in_a_missing_namespace_is_404(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("nowhere", configmap("a"))

    assert caught.value.status == 404
    assert _status(caught.value)["message"] == 'namespaces "nowhere" not found'


def test_namespaces_are_labelled_with_their_name(core: Any) -> None:
    core.create_namespace({"metadata": {"name": "team-a"}})

    namespace = core.read_namespace("team-a")

    assert namespace.metadata.labels == {"kubernetes.io/metadata.name": "team-a"}
    assert namespace.status.phase == "Active"
    assert {"default", "kube-system"} <= {n.metadata.name for n in core.list_namespace().items}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web,db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("app=web,tier=front", ["a"]),
        ("app in (web, db),!tier", ["b"]),
        ("rank>1", ["b"]),
    ],
)
def test_label_selectors(core: Any, selector: str, expected: list[str]) -> None:
    labelled = {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "rank": "2"},
        "c": {"app": "db", "tier": "back"},
        "d": {"other": "x"},
    }
    for name, labels in labelled.items():
        core.create_namespaced_config_map("default", configmap(name, labels=labels))

    found = core.list_namespaced_config_map("default", label_selector=selector)

    assert [item.metadata.name for item in found.items] == expected


def test_an_unparsable_label_selector_is_400(server: FakeApiServer) -> None:
    answer = call(server, "GET", CONFIGMAPS, query={"labelSelector": "app in web"})

    assert answer.status == 400
    assert answer.body["reason"] == "BadRequest"


def test_field_selectors_on_name_and_namespace(core: Any) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    for namespace in ("default", "other"):
        for name in ("a", "b"):
            core.create_namespaced_config_map(namespace, configmap(name))

    by_name = core.list_config_map_for_all_namespaces(field_selector="metadata.name=a")
    not_default = core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace!=default"
    )

    assert [(i.metadata.namespace, i.metadata.name) for i in by_name.items] == [
        ("default", "a"),
        ("other", "a"),
    ]
    assert {i.metadata.namespace for i in not_default.items} == {"other"}


def test_an_unsupported_field_selector_is_400(core: Any) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", field_selector="data.k=v")

    assert caught.value.status == 400
    assert "field label not supported" in _status(caught.value)["message"]


def test_list_items_of_builtin_types_lack_kind_but_custom_ones_have_it(
    server: FakeApiServer,
) -> None:
    call(server, "POST", CONFIGMAPS, configmap("a"))
    call(server, "POST", MODELS, model("m"))

    configmaps = call(server, "GET", CONFIGMAPS).body
    models = call(server, "GET", MODELS).body

    assert configmaps["kind"] == "ConfigMapList" and "kind" not in configmaps["items"][0]
    assert models["kind"] == "ModelDeploymentList"
    assert models["items"][0]["kind"] == "ModelDeployment"


def test_cluster_scoped_custom_resources(server: FakeApiServer, custom: Any) -> None:
    policy = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterRolloutPolicy",
        "metadata": {"name": "p"},
        "spec": {"maxSurge": 1},
    }
    custom.create_cluster_custom_object(GROUP, VERSION, "clusterrolloutpolicies", policy)

    listed = custom.list_cluster_custom_object(GROUP, VERSION, "clusterrolloutpolicies")
    namespaced_path = call(
        server, "GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/clusterrolloutpolicies"
    )

    assert [i["metadata"]["name"] for i in listed["items"]] == ["p"]
    assert "namespace" not in listed["items"][0]["metadata"]
    assert namespaced_path.status == 404


def test_lease_takeover_with_compare_and_swap(leases: Any) -> None:
    spec = {"holderIdentity": "a", "leaseDurationSeconds": 10}
    created = leases.create_namespaced_lease(
        "default", {"metadata": {"name": "leader"}, "spec": spec}
    )
    # Two candidates read the same version; the first write wins, the second conflicts.
    first = client.V1Lease(
        metadata=client.V1ObjectMeta(
            name="leader", resource_version=created.metadata.resource_version
        ),
        spec=client.V1LeaseSpec(holder_identity="b", lease_duration_seconds=10),
    )
    second = client.V1Lease(
        metadata=client.V1ObjectMeta(
            name="leader", resource_version=created.metadata.resource_version
        ),
        spec=client.V1LeaseSpec(holder_identity="c", lease_duration_seconds=10),
    )
    leases.replace_namespaced_lease("leader", "default", first)

    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("leader", "default", second)

    assert caught.value.status == 409
    assert leases.read_namespaced_lease("leader", "default").spec.holder_identity == "b"


def test_an_unknown_path_is_404_status(server: FakeApiServer) -> None:
    answer = call(server, "GET", "/apis/nothing.io/v1/things")

    assert answer.status == 404
    assert answer.body["kind"] == "Status"


def test_a_crd_creates_a_served_resource(server: FakeApiServer, fake_api_client: Any) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}
            ],
        },
    }
    client.ApiextensionsV1Api(fake_api_client).create_custom_resource_definition(cast(Any, crd))
    widgets = client.CustomObjectsApi(fake_api_client)

    widgets.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    resources = call(server, "GET", "/apis/example.com/v1").body["resources"]

    assert {r["name"] for r in resources} == {"widgets", "widgets/status"}
    assert server.get("widgets.example.com", "w", "default") is not None


def test_lease_times_are_stored_in_the_servers_format(server: FakeApiServer, leases: Any) -> None:
    renewed = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    leases.create_namespaced_lease(
        "default",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="leader"),
            spec=client.V1LeaseSpec(holder_identity="a", renew_time=renewed),
        ),
    )
    naive = {"metadata": {"name": "naive"}, "spec": {"renewTime": "2024-05-06T07:08:09.000000"}}

    stored = server.get("leases", "leader", "default")
    refused = call(server, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", naive)

    assert stored is not None
    assert stored["spec"]["renewTime"] == "2024-05-06T05:08:09.123456Z"
    assert leases.read_namespaced_lease("leader", "default").spec.renew_time == renewed
    assert refused.status == 422


def test_concurrent_compare_and_swap_loses_no_update(server: FakeApiServer) -> None:
    call(server, "POST", CONFIGMAPS, configmap("counter", n="0"))
    conflicts = []

    def increment(times: int) -> None:
        for _ in range(times):
            while True:
                current = call(server, "GET", f"{CONFIGMAPS}/counter").body
                current["data"]["n"] = str(int(current["data"]["n"]) + 1)
                if call(server, "PUT", f"{CONFIGMAPS}/counter", current).status == 200:
                    break
                conflicts.append(1)

    workers = [threading.Thread(target=increment, args=(15,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    final = server.get("configmaps", "counter", "default")
    assert final is not None and final["data"]["n"] == "60"
    assert server.request_count("PUT") == 60 + len(conflicts)
