"""Paged lists, lists at a resourceVersion, and 410 Expired once history is compacted."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import CONFIGMAPS, MERGE, call, configmap


def _fill(server: FakeApiServer, count: int) -> None:
    for index in range(count):
        call(server, "POST", CONFIGMAPS, configmap(f"cm-{index:02d}", labels={"n": str(index)}))


def _page(server: FakeApiServer, **query: str) -> dict[str, Any]:
    answer = call(server, "GET", CONFIGMAPS, query=query)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def test_paging_with_continue_tokens(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 5)

    first = _page(fake_api, limit="2")
    second = _page(fake_api, limit="2", **{"continue": first["metadata"]["continue"]})
    third = _page(fake_api, limit="2", **{"continue": second["metadata"]["continue"]})

    names = [i["metadata"]["name"] for page in (first, second, third) for i in page["items"]]
    assert names == [f"cm-{i:02d}" for i in range(5)]
    assert first["metadata"]["remainingItemCount"] == 3
    assert second["metadata"]["remainingItemCount"] == 1
    assert "continue" not in third["metadata"]
    assert "remainingItemCount" not in third["metadata"]


def test_pages_show_the_state_of_the_first_page(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 4)
    first = _page(fake_api, limit="2")
    call(fake_api, "DELETE", f"{CONFIGMAPS}/cm-03")
    call(fake_api, "POST", CONFIGMAPS, configmap("cm-99"))
    call(fake_api, "PATCH", f"{CONFIGMAPS}/cm-02", {"data": {"k": "v"}}, content_type=MERGE)

    rest = _page(fake_api, limit="10", **{"continue": first["metadata"]["continue"]})

    assert [i["metadata"]["name"] for i in rest["items"]] == ["cm-02", "cm-03"]
    assert not rest["items"][0].get("data")
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_paging_with_a_selector_has_no_remaining_count(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 6)

    page = _page(fake_api, limit="2", labelSelector="n notin (0)")

    assert [i["metadata"]["name"] for i in page["items"]] == ["cm-01", "cm-02"]
    assert page["metadata"]["continue"]
    assert "remainingItemCount" not in page["metadata"]


def test_a_compacted_continue_token_is_410_expired(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 3)
    first = _page(fake_api, limit="1")
    call(fake_api, "POST", CONFIGMAPS, configmap("later"))
    fake_api.compact()

    expired = call(
        fake_api, "GET", CONFIGMAPS, query={"limit": "1", "continue": first["metadata"]["continue"]}
    )

    assert expired.status == 410
    assert expired.body["reason"] == "Expired"
    assert expired.body["code"] == 410


def test_the_client_sees_410_for_a_compacted_continue(fake_api: FakeApiServer, core: Any) -> None:
    _fill(fake_api, 3)
    first = core.list_namespaced_config_map("default", limit=1)
    call(fake_api, "POST", CONFIGMAPS, configmap("later"))
    fake_api.compact()

    with pytest.raises(ApiException) as caught:
        core.list_namespaced_config_map("default", limit=1, _continue=first.metadata._continue)

    assert caught.value.status == 410


def test_a_list_at_an_exact_version(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 2)
    then = fake_api.resource_version
    call(fake_api, "POST", CONFIGMAPS, configmap("later"))

    exact = _page(fake_api, resourceVersion=then, resourceVersionMatch="Exact")
    fake_api.compact()
    expired = call(
        fake_api,
        "GET",
        CONFIGMAPS,
        query={"resourceVersion": then, "resourceVersionMatch": "Exact"},
    )

    assert [i["metadata"]["name"] for i in exact["items"]] == ["cm-00", "cm-01"]
    assert exact["metadata"]["resourceVersion"] == then
    assert expired.status == 410


def test_a_list_not_older_than_a_version_is_the_current_state(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 2)
    then = fake_api.resource_version
    call(fake_api, "POST", CONFIGMAPS, configmap("later"))
    fake_api.compact()

    current = _page(fake_api, resourceVersion=then)
    any_version = _page(fake_api, resourceVersion="0")

    assert len(current["items"]) == 3
    assert current["metadata"]["resourceVersion"] == fake_api.resource_version
    assert len(any_version["items"]) == 3


def test_continue_with_a_resource_version_is_400(fake_api: FakeApiServer) -> None:
    _fill(fake_api, 3)
    token = _page(fake_api, limit="1")["metadata"]["continue"]

    refused = call(fake_api, "GET", CONFIGMAPS, query={"continue": token, "resourceVersion": "1"})
    garbage = call(fake_api, "GET", CONFIGMAPS, query={"continue": "not-a-token"})

    assert refused.status == 400
    assert garbage.status == 400
