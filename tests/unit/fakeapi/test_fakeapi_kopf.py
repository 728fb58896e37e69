"""kopf's own aiohttp client lists, watches and patches a custom resource on the fake."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from tests.fakeapi import FakeApiServer
from tests.unit.fakeapi.support import GROUP, MERGE, MODEL, MODELS, VERSION, call, model


class Operator:
    """kopf running in a thread of its own against the fake server."""

    def __init__(self, server: FakeApiServer) -> None:
        self.events: list[tuple[str | None, str]] = []
        self.registry = kopf.OperatorRegistry()
        self._stop = threading.Event()
        registry = self.registry

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=server.url, insecure=True)

        @kopf.on.startup(registry=registry)
        def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            settings.posting.enabled = False
            settings.watching.server_timeout = 60
            # One object a page, so that kopf's initial listing follows continue tokens.
            settings.watching.chunk_size = 1

        @kopf.on.event(GROUP, VERSION, "modeldeployments", registry=registry)
        def seen(event: kopf.RawEvent, name: str, **_: Any) -> None:
            self.events.append((event["type"], name))

        @kopf.on.create(GROUP, VERSION, "modeldeployments", registry=registry, id="created")
        def created(spec: kopf.Spec, **_: Any) -> dict[str, Any]:
            return {"model": spec.get("model")}

        self._thread = threading.Thread(
            target=kopf.run,
            kwargs={
                "registry": registry,
                "standalone": True,
                "clusterwide": True,
                "stop_flag": self._stop,
            },
            name="kopf",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "kopf did not stop"


@pytest.fixture
def operator(server: FakeApiServer) -> Iterator[Operator]:
    running = Operator(server)
    yield running
    running.stop()


def test_kopf_lists_watches_and_patches_a_custom_resource(
    server: FakeApiServer, operator: Operator
) -> None:
    server.put(MODEL, model("first"))
    server.put(MODEL, model("second"))

    operator.start()
    server.wait_for(lambda: server.watches(r"/modeldeployments$"), timeout=10)
    call(server, "POST", MODELS, model("third"))
    server.wait_for(lambda: ("ADDED", "third") in operator.events, timeout=10)
    call(server, "PATCH", f"{MODELS}/third", {"spec": {"model": "n"}}, content_type=MERGE)
    server.wait_for(lambda: ("MODIFIED", "third") in operator.events, timeout=10)
    call(server, "DELETE", f"{MODELS}/first")
    server.wait_for(lambda: ("DELETED", "first") in operator.events, timeout=10)
    handled = server.wait_for(
        lambda: (server.get(MODEL, "third", "default") or {}).get("status"), timeout=10
    )

    # Listed objects reach kopf as events without a type, then the stream's events follow.
    assert operator.events[:2] == [(None, "first"), (None, "second")]
    listings = [
        r
        for r in server.requests
        if r.method == "GET" and r.path == f"/apis/{GROUP}/{VERSION}/modeldeployments"
    ]
    assert [r.query.get("limit") for r in listings if not r.watch] == ["1", "1"]
    assert "continue" in listings[1].query
    watch = next(r for r in listings if r.watch)
    assert watch.query["allowWatchBookmarks"] == "true"
    # kopf wrote the handler's result through the status subresource.
    assert handled == {"created": {"model": "m"}}
    assert server.request_count("PATCH", r"/third/status$") >= 1
