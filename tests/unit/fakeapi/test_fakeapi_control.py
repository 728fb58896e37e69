"""The control API: injected failures, the request log, stored state, waiting, discovery."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import (
    CONFIGMAPS,
    GROUP,
    MERGE,
    MODEL,
    MODELS,
    VERSION,
    WatchStream,
    call,
    configmap,
    model,
)


def test_a_server_starts_and_stops_in_milliseconds() -> None:
    started = time.monotonic()
    with FakeApiServer() as server:
        assert call(server, "GET", "/healthz").body == "ok"

    assert time.monotonic() - started < 0.5


def test_an_injected_409_on_the_next_status_patch(server: FakeApiServer, custom: Any) -> None:
    call(server, "POST", MODELS, model("m"))
    fault = server.fail_next("PATCH", r"/modeldeployments/m/status$", 409)

    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "default",
            "modeldeployments",
            "m",
            {"status": {"a": 1}},
            _content_type=MERGE,
        )
    again = custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "default",
        "modeldeployments",
        "m",
        {"status": {"a": 2}},
        _content_type=MERGE,
    )

    assert caught.value.status == 409
    assert fault.hits == 1
    assert again["status"] == {"a": 2}


def test_an_injected_failure_happens_before_anything_is_done(
    fake_api: FakeApiServer, core: Any
) -> None:
    fake_api.fail_next("POST", "configmaps", 500, times=2)

    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_config_map("default", configmap("a"))
        assert caught.value.status == 500
        assert caught.value.reason == "Internal Server Error"
    assert fake_api.objects("configmaps") == []
    core.create_namespaced_config_map("default", configmap("a"))
    assert [o["metadata"]["name"] for o in fake_api.objects("configmaps")] == ["a"]


def test_injected_failures_can_target_watches_only(fake_api: FakeApiServer) -> None:
    fake_api.fail_next("GET", "configmaps", 410, watch=True)

    listed = call(fake_api, "GET", CONFIGMAPS)
    watched = WatchStream(fake_api, CONFIGMAPS)
    watched.close()

    assert listed.status == 200
    assert watched.status == 410


def test_an_injected_429_carries_retry_after(fake_api: FakeApiServer) -> None:
    fake_api.fail_next("*", "configmaps", 429, retry_after=2)

    throttled = call(fake_api, "GET", CONFIGMAPS)

    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.body["reason"] == "TooManyRequests"
    assert throttled.body["details"]["retryAfterSeconds"] == 2


def test_the_request_log_counts_requests(fake_api: FakeApiServer, core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("a"))
    core.read_namespaced_config_map("a", "default")
    core.read_namespaced_config_map("a", "default")
    core.list_namespaced_config_map("default", label_selector="x=y")

    assert fake_api.request_count("GET", r"/configmaps/a$") == 2
    assert fake_api.request_count("POST") == 1
    assert fake_api.request_count(watch=True) == 0
    listing = fake_api.requests[-1]
    assert (listing.method, listing.path, listing.query) == (
        "GET",
        CONFIGMAPS,
        {"labelSelector": "x=y"},
    )
    assert listing.status == 200
    fake_api.clear_requests()
    assert fake_api.requests == []


def test_put_stores_status_and_get_reads_it(server: FakeApiServer, custom: Any) -> None:
    body = model("m")
    body["status"] = {"phase": "Ready"}

    stored = server.put(MODEL, body)
    read = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "modeldeployments", "m")

    assert stored["status"] == {"phase": "Ready"}
    assert read["status"] == {"phase": "Ready"}
    assert server.get("mdep", "m", "default") == read
    assert server.get(MODEL, "nope", "default") is None


def test_pods_seeded_with_status_for_the_code_under_test(
    fake_api: FakeApiServer, core: Any
) -> None:
    fake_api.put(
        "pods",
        {
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )

    pods = core.list_namespaced_pod("default", label_selector="app=x")

    assert pods.items[0].status.pod_ip == "10.0.0.1"


def test_objects_are_copies(fake_api: FakeApiServer) -> None:
    call(fake_api, "POST", CONFIGMAPS, configmap("a", k="v"))

    fake_api.objects("configmaps")[0]["data"]["k"] = "changed"

    assert fake_api.objects("configmaps")[0]["data"] == {"k": "v"}


def test_delete_skips_finalizers(server: FakeApiServer) -> None:
    server.put(MODEL, model("m", finalizers=["x/y"]))

    assert server.delete(MODEL, "m", "default") is True
    assert server.get(MODEL, "m", "default") is None


def test_wait_for_returns_the_value_or_times_out(fake_api: FakeApiServer) -> None:
    with pytest.raises(TimeoutError):
        fake_api.wait_for(lambda: fake_api.get("configmaps", "a", "default"), timeout=0.1)

    call(fake_api, "POST", CONFIGMAPS, configmap("a"))

    found = fake_api.wait_for(lambda: fake_api.get("configmaps", "a", "default"))
    assert found is not None
    assert found["metadata"]["name"] == "a"


def test_discovery_documents(fake_api: FakeApiServer) -> None:
    api = call(fake_api, "GET", "/api").body
    core = call(fake_api, "GET", "/api/v1").body
    groups = call(fake_api, "GET", "/apis").body
    apps = call(fake_api, "GET", "/apis/apps/v1").body
    version = call(fake_api, "GET", "/version").body

    assert api["versions"] == ["v1"]
    names = {r["name"]: r for r in core["resources"]}
    assert names["pods"]["namespaced"] is True and names["pods"]["kind"] == "Pod"
    assert names["namespaces"]["namespaced"] is False
    assert "pods/status" in names and "watch" in names["pods"]["verbs"]
    expected = {
        "apps",
        "coordination.k8s.io",
        "events.k8s.io",
        "policy",
        "autoscaling",
        "discovery.k8s.io",
        "gateway.networking.k8s.io",
        "apiextensions.k8s.io",
    }
    assert {g["name"] for g in groups["groups"]} == expected
    assert {r["name"] for r in apps["resources"]} == {
        "deployments",
        "deployments/status",
        "deployments/scale",
    }
    assert version["major"] == "1"


def test_the_dynamic_client_discovers_registered_types(
    server: FakeApiServer, fake_api_client: Any
) -> None:
    from kubernetes import dynamic

    resources = dynamic.DynamicClient(fake_api_client).resources  # type: ignore[no-untyped-call]
    models = resources.get(api_version=f"{GROUP}/{VERSION}", kind="ModelDeployment")
    models.create(body=model("m"), namespace="default")

    assert models.namespaced is True
    assert [i.metadata.name for i in models.get(namespace="default").items] == ["m"]


def test_a_kubeconfig_for_the_server(fake_api: FakeApiServer, tmp_path: Path) -> None:
    path = fake_api.kubeconfig(tmp_path / "config")
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(path), client_configuration=configuration
    )

    with client.ApiClient(configuration) as api_client:
        namespaces = client.CoreV1Api(api_client).list_namespace()

    assert "default" in {n.metadata.name for n in namespaces.items if n.metadata}
