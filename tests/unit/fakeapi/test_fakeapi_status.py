"""The status subresource, metadata.generation, no-op writes and the scale subresource."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import GROUP, MERGE, MODEL, MODELS, VERSION, call, configmap, model


def _status_patch(custom: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    patched: dict[str, Any] = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", "modeldeployments", name, body, _content_type=MERGE
    )
    return patched


def test_create_drops_status_when_status_is_a_subresource(server: FakeApiServer) -> None:
    body = model("m")
    body["status"] = {"phase": "Ready"}

    created = call(server, "POST", MODELS, body).body

    assert "status" not in created


def test_writes_to_the_object_leave_status_alone(server: FakeApiServer, custom: Any) -> None:
    call(server, "POST", MODELS, model("m"))
    _status_patch(custom, "m", {"status": {"phase": "Ready"}})

    patched = custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        "modeldeployments",
        "m",
        {"spec": {"model": "n"}, "status": {"phase": "Broken"}},
    )
    current = custom.get_namespaced_custom_object(
        GROUP, VERSION, "default", "modeldeployments", "m"
    )
    body = {**current, "spec": {"model": "o"}, "status": {"phase": "Gone"}}
    replaced = custom.replace_namespaced_custom_object(
        GROUP, VERSION, "default", "modeldeployments", "m", body
    )

    assert patched["status"] == {"phase": "Ready"} and patched["spec"]["model"] == "n"
    assert replaced["status"] == {"phase": "Ready"} and replaced["spec"]["model"] == "o"


def test_writes_to_status_change_only_status(server: FakeApiServer, custom: Any) -> None:
    call(server, "POST", MODELS, model("m", labels={"a": "1"}))

    patched = _status_patch(
        custom,
        "m",
        {"status": {"phase": "Ready"}, "spec": {"model": "changed"}, "metadata": {"labels": None}},
    )

    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["model"] == "m"
    assert patched["metadata"]["labels"] == {"a": "1"}
    assert patched["metadata"]["generation"] == 1


def test_a_stale_resource_version_in_a_status_patch_is_409(
    server: FakeApiServer, custom: Any
) -> None:
    created = call(server, "POST", MODELS, model("m")).body
    _status_patch(custom, "m", {"status": {"phase": "A"}})

    with pytest.raises(ApiException) as caught:
        _status_patch(
            custom,
            "m",
            {
                "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
                "status": {"phase": "B"},
            },
        )

    assert caught.value.status == 409
    assert server.get(MODEL, "m", "default")["status"] == {"phase": "A"}  # type: ignore[index]


def test_generation_counts_spec_changes_only(server: FakeApiServer, custom: Any) -> None:
    call(server, "POST", MODELS, model("m"))

    def generation() -> int:
        found = server.get(MODEL, "m", "default")
        assert found is not None
        return int(found["metadata"]["generation"])

    assert generation() == 1
    call(server, "PATCH", f"{MODELS}/m", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE)
    assert generation() == 1
    _status_patch(custom, "m", {"status": {"phase": "Ready"}})
    assert generation() == 1
    call(server, "PATCH", f"{MODELS}/m", {"spec": {"model": "n"}}, content_type=MERGE)
    assert generation() == 2


def test_without_a_status_subresource_status_is_ordinary_content(
    server: FakeApiServer, core: Any
) -> None:
    body = configmap("a")
    created = core.create_namespaced_config_map("default", body)
    patched = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})

    assert created.metadata.generation == 1
    assert patched.metadata.generation == 2


def test_a_write_that_changes_nothing_keeps_the_resource_version(
    server: FakeApiServer, core: Any
) -> None:
    created = core.create_namespaced_config_map("default", configmap("a", k="v"))

    again = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})

    assert again.metadata.resource_version == created.metadata.resource_version
    assert server.resource_version == created.metadata.resource_version


def test_status_writes_are_tracked_as_the_status_subresource(
    server: FakeApiServer, custom: Any
) -> None:
    call(server, "POST", MODELS, model("m"), query={"fieldManager": "creator"})

    written = _status_patch(custom, "m", {"status": {"phase": "Ready"}})
    entries = {
        (e["manager"], e.get("subresource", "")): e["fieldsV1"]
        for e in written["metadata"]["managedFields"]
    }

    assert entries[("creator", "")] == {"f:spec": {"f:model": {}, "f:replicas": {}}}
    assert entries[("OpenAPI-Generator", "status")] == {"f:status": {"f:phase": {}}}


def test_deployment_scale_subresource(apps: Any) -> None:
    deployment = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    apps.create_namespaced_deployment("default", deployment)

    scaled = apps.patch_namespaced_deployment_scale("d", "default", {"spec": {"replicas": 3}})
    read = apps.read_namespaced_deployment_scale("d", "default")
    current = apps.read_namespaced_deployment("d", "default")

    assert scaled.spec.replicas == 3
    assert read.status.selector == "app=d"
    assert current.spec.replicas == 3
    assert current.metadata.generation == 2
