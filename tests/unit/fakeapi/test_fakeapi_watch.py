"""Watch streams: start points, selectors, timeouts, bookmarks and 410 Expired."""

from __future__ import annotations

from typing import Any

from kubernetes import watch

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import CONFIGMAPS, MERGE, WatchStream, call, configmap


def _create(server: FakeApiServer, name: str, **labels: str) -> dict[str, Any]:
    created: dict[str, Any] = call(server, "POST", CONFIGMAPS, configmap(name, labels)).body
    return created


def _names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def test_watch_is_chunked_json_lines(fake_api: FakeApiServer) -> None:
    with WatchStream(fake_api, CONFIGMAPS) as stream:
        _create(fake_api, "a")
        event = stream.next()

    assert stream.status == 200
    assert stream.headers["Transfer-Encoding"] == "chunked"
    assert event is not None and event["type"] == "ADDED"
    assert event["object"]["kind"] == "ConfigMap" and event["object"]["apiVersion"] == "v1"


def test_watch_without_a_version_starts_with_the_current_objects(fake_api: FakeApiServer) -> None:
    _create(fake_api, "a")
    _create(fake_api, "b")

    with WatchStream(fake_api, CONFIGMAPS) as stream:
        first = [stream.next(), stream.next()]
        call(fake_api, "PATCH", f"{CONFIGMAPS}/a", {"data": {"k": "v"}}, content_type=MERGE)
        call(fake_api, "DELETE", f"{CONFIGMAPS}/b")
        live = [stream.next(), stream.next()]

    assert _names(first) == [("ADDED", "a"), ("ADDED", "b")]  # type: ignore[arg-type]
    assert _names(live) == [("MODIFIED", "a"), ("DELETED", "b")]  # type: ignore[arg-type]


def test_watch_from_a_resource_version_replays_what_came_after(fake_api: FakeApiServer) -> None:
    a = _create(fake_api, "a")
    _create(fake_api, "b")
    call(fake_api, "DELETE", f"{CONFIGMAPS}/a")

    with WatchStream(fake_api, CONFIGMAPS, resourceVersion=a["metadata"]["resourceVersion"]) as s:
        events = [s.next(), s.next()]

    assert _names(events) == [("ADDED", "b"), ("DELETED", "a")]  # type: ignore[arg-type]
    deleted = events[1]
    assert deleted is not None
    assert int(deleted["object"]["metadata"]["resourceVersion"]) > int(
        a["metadata"]["resourceVersion"]
    )


def test_watch_with_the_kubernetes_client(fake_api: FakeApiServer, core: Any) -> None:
    listed = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", configmap("a"))
    core.create_namespaced_config_map("default", configmap("b"))

    seen = []
    for event in watch.Watch().stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            break

    assert seen == [("ADDED", "a"), ("ADDED", "b")]


def test_a_watch_shows_objects_entering_and_leaving_its_selector(fake_api: FakeApiServer) -> None:
    with WatchStream(fake_api, CONFIGMAPS, labelSelector="app=web") as stream:
        _create(fake_api, "other", app="db")
        _create(fake_api, "a", app="web")
        call(
            fake_api,
            "PATCH",
            f"{CONFIGMAPS}/other",
            {"metadata": {"labels": {"app": "web"}}},
            content_type=MERGE,
        )
        call(
            fake_api,
            "PATCH",
            f"{CONFIGMAPS}/a",
            {"metadata": {"labels": {"app": "db"}}},
            content_type=MERGE,
        )
        events = [stream.next(), stream.next(), stream.next()]

    assert _names(events) == [  # type: ignore[arg-type]
        ("ADDED", "a"),
        ("ADDED", "other"),
        ("DELETED", "a"),
    ]


def test_a_namespaced_watch_sees_only_its_namespace(fake_api: FakeApiServer) -> None:
    call(fake_api, "POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})

    with WatchStream(fake_api, CONFIGMAPS) as stream:
        call(fake_api, "POST", "/api/v1/namespaces/other/configmaps", configmap("x"))
        _create(fake_api, "a")
        event = stream.next()

    assert event is not None and event["object"]["metadata"]["name"] == "a"


def test_timeout_seconds_ends_the_stream(fake_api: FakeApiServer) -> None:
    with WatchStream(fake_api, CONFIGMAPS, timeoutSeconds="1") as stream:
        ended = stream.next()

    assert ended is None


def test_watch_from_a_compacted_version_gets_410_in_the_stream(fake_api: FakeApiServer) -> None:
    old = _create(fake_api, "a")["metadata"]["resourceVersion"]
    _create(fake_api, "b")
    fake_api.compact()

    with WatchStream(fake_api, CONFIGMAPS, resourceVersion=old) as stream:
        error = stream.next()
        after = stream.next()
    with WatchStream(fake_api, CONFIGMAPS, resourceVersion=fake_api.resource_version) as ok:
        _create(fake_api, "c")
        fresh = ok.next()

    assert stream.status == 200
    assert error is not None and error["type"] == "ERROR"
    assert error["object"]["kind"] == "Status"
    assert error["object"]["code"] == 410
    assert error["object"]["reason"] == "Expired"
    assert after is None
    assert fresh is not None and fresh["type"] == "ADDED"


def test_a_bounded_history_expires_old_versions_by_itself() -> None:
    with FakeApiServer(history_limit=3) as server:
        old = _create(server, "a")["metadata"]["resourceVersion"]
        for name in "bcde":
            _create(server, name)

        with WatchStream(server, CONFIGMAPS, resourceVersion=old) as stream:
            error = stream.next()

    assert error is not None and error["object"]["code"] == 410


def test_bookmarks_on_demand_carry_only_the_resource_version(fake_api: FakeApiServer) -> None:
    with WatchStream(fake_api, CONFIGMAPS, allowWatchBookmarks="true") as stream:
        fake_api.wait_for(lambda: fake_api.watches(CONFIGMAPS))
        _create(fake_api, "a")
        added = stream.next()
        assert fake_api.send_bookmarks() == 1
        bookmark = stream.next()

    assert added is not None and bookmark is not None
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": fake_api.resource_version},
    }


def test_no_bookmarks_unless_allowed(fake_api: FakeApiServer) -> None:
    with WatchStream(fake_api, CONFIGMAPS) as stream:
        fake_api.wait_for(lambda: fake_api.watches(CONFIGMAPS))
        assert fake_api.send_bookmarks() == 0
        _create(fake_api, "a")
        event = stream.next()

    assert event is not None and event["type"] == "ADDED"


def test_bookmarks_come_periodically() -> None:
    with (
        FakeApiServer(bookmark_interval=0.05) as server,
        WatchStream(server, CONFIGMAPS, allowWatchBookmarks="true") as stream,
    ):
        events = [stream.next(), stream.next()]

    assert [e["type"] for e in events if e] == ["BOOKMARK", "BOOKMARK"]


def test_send_initial_events_ends_with_a_marked_bookmark(fake_api: FakeApiServer) -> None:
    _create(fake_api, "a")

    with WatchStream(
        fake_api,
        CONFIGMAPS,
        allowWatchBookmarks="true",
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
    ) as stream:
        added, bookmark = stream.next(), stream.next()

    assert added is not None and added["type"] == "ADDED"
    assert bookmark is not None and bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_end_watches_closes_streams_optionally_with_an_error(fake_api: FakeApiServer) -> None:
    with (
        WatchStream(fake_api, CONFIGMAPS) as plain,
        WatchStream(fake_api, "/api/v1/namespaces/default/secrets") as errored,
    ):
        fake_api.wait_for(lambda: len(fake_api.watches()) == 2)

        assert fake_api.end_watches("configmaps") == 1
        assert fake_api.end_watches("secrets", error=410) == 1
        plain_end = plain.next()
        error = errored.next()
        errored_end = errored.next()

    assert plain_end is None
    assert error is not None and error["type"] == "ERROR" and error["object"]["code"] == 410
    assert errored_end is None
    assert fake_api.watches() == []


def test_a_closed_client_watch_is_noticed(fake_api: FakeApiServer) -> None:
    stream = WatchStream(fake_api, CONFIGMAPS)
    fake_api.wait_for(lambda: fake_api.watches(CONFIGMAPS))

    stream.close()

    assert fake_api.wait_for(lambda: not fake_api.watches(CONFIGMAPS), timeout=5) is True


def test_an_informer_relists_after_a_410_in_its_stream(fake_api: FakeApiServer, core: Any) -> None:
    """A list-then-watch loop as an operator's informer runs it, with raw responses."""
    import json
    import threading

    from kubernetes.watch.watch import iter_resp_lines

    cache: dict[str, dict[str, Any]] = {}
    stop = threading.Event()
    lists = []

    def informer() -> None:
        while not stop.is_set():
            listed = json.loads(
                core.list_namespaced_config_map("default", limit=1, _preload_content=False).data
            )
            lists.append(listed["metadata"]["resourceVersion"])
            token = listed["metadata"].get("continue")
            items = listed["items"]
            while token:
                page = json.loads(
                    core.list_namespaced_config_map(
                        "default", limit=1, _continue=token, _preload_content=False
                    ).data
                )
                items += page["items"]
                token = page["metadata"].get("continue")
            cache.clear()
            cache.update({i["metadata"]["name"]: i for i in items})
            response = core.list_namespaced_config_map(
                "default",
                watch=True,
                resource_version=listed["metadata"]["resourceVersion"],
                allow_watch_bookmarks=True,
                timeout_seconds=30,
                _preload_content=False,
            )
            try:
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        break
                    if event["type"] in ("ADDED", "MODIFIED"):
                        cache[event["object"]["metadata"]["name"]] = event["object"]
                    elif event["type"] == "DELETED":
                        cache.pop(event["object"]["metadata"]["name"], None)
            finally:
                response.release_conn()

    _create(fake_api, "a")
    _create(fake_api, "b")
    thread = threading.Thread(target=informer, daemon=True)
    thread.start()
    try:
        fake_api.wait_for(lambda: fake_api.watches(CONFIGMAPS))
        assert sorted(cache) == ["a", "b"]
        _create(fake_api, "c")
        fake_api.wait_for(lambda: "c" in cache)

        fake_api.compact()
        assert fake_api.end_watches(CONFIGMAPS, error=410) == 1
        fake_api.wait_for(lambda: len(lists) == 2 and fake_api.watches(CONFIGMAPS))
    finally:
        stop.set()
        fake_api.end_watches()
        thread.join(timeout=5)

    assert sorted(cache) == ["a", "b", "c"]
    assert fake_api.request_count("GET", CONFIGMAPS, watch=False) == 5


def test_watch_1_is_a_watch_too(fake_api: FakeApiServer) -> None:
    _create(fake_api, "a")

    with WatchStream(fake_api, CONFIGMAPS, watch="1", timeoutSeconds="5") as stream:
        event = stream.next()

    assert event is not None and event["type"] == "ADDED"
    assert fake_api.request_count("GET", CONFIGMAPS, watch=True) == 1
