"""Events counted up and rate limited as client-go's recorder does them, and a timeout on every
request the shell makes of the API server."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, ClassVar
from unittest import mock

from kubernetes import client

from modeldeploy.runtime.listwatch import Informer
from modeldeploy.shell.events import BURST, REFILL_S, SERIES_WINDOW_S, EventRecorder
from modeldeploy.shell.kube import Kube
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_same_event_counts_up_the_one_posted_on_the_api_server(server: FakeApiServer) -> None:
    clock = Clock()
    recorder = EventRecorder(Kube(api_client(server)), clock)
    done = [
        recorder.record(NAMESPACE, "iris", "u1", "Warning", "ChildConflict", "taken")
        for _ in range(3)
    ]
    assert done == ["created", "counted", "counted"]
    [event] = server.objects("events", NAMESPACE)
    assert event["count"] == 3 and event["reason"] == "ChildConflict"

    # Another message, or the same one after the window, is an Event of its own.
    assert (
        recorder.record(NAMESPACE, "iris", "u1", "Warning", "ChildConflict", "other") == "created"
    )
    clock.now += SERIES_WINDOW_S + 1
    assert (
        recorder.record(NAMESPACE, "iris", "u1", "Warning", "ChildConflict", "taken") == "created"
    )
    assert len(server.objects("events", NAMESPACE)) == 3


def test_a_counted_event_that_expired_is_posted_again(server: FakeApiServer) -> None:
    recorder = EventRecorder(Kube(api_client(server)), Clock())
    recorder.record(NAMESPACE, "iris", "u1", "Normal", "Paused", "paused")
    [event] = server.objects("events", NAMESPACE)
    assert server.delete("events", event["metadata"]["name"], NAMESPACE)
    assert recorder.record(NAMESPACE, "iris", "u1", "Normal", "Paused", "paused") == "created"


class Sink:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_event(self, event: dict[str, Any]) -> bool:
        self.created.append(event)
        return True

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        return True


def test_a_flood_from_one_object_is_dropped_past_the_burst_and_refills_slowly() -> None:
    clock, sink = Clock(), Sink()
    recorder = EventRecorder(sink, clock)
    done = [
        recorder.record("ml", "iris", "u1", "Normal", "StepAdvanced", f"step {i}")
        for i in range(BURST + 10)
    ]
    assert done.count("created") == BURST and done.count("dropped") == 10
    # Another object has a bucket of its own.
    assert recorder.record("ml", "wine", "u2", "Normal", "StepAdvanced", "step") == "created"
    clock.now += REFILL_S / 2
    assert recorder.record("ml", "iris", "u1", "Normal", "StepAdvanced", "later") == "dropped"
    clock.now += REFILL_S / 2
    assert recorder.record("ml", "iris", "u1", "Normal", "StepAdvanced", "later") == "created"
    assert recorder.record("ml", "iris", "u1", "Normal", "StepAdvanced", "later2") == "dropped"


def _arguments(method: Any) -> list[Any]:
    """Plausible arguments for a Kube method, by its parameters' names."""
    values = {
        "namespace": "ml",
        "name": "iris",
        "kind": "Service",
        "key": "k",
        "labels": {"a": "b"},
        "status_patch": {},
        "resource_version": "1",
        "replicas": 1,
        "patch": {},
        "rules": [],
        "timeout_s": 2.0,
        "event": {"metadata": {"namespace": "ml"}, "reason": "R"},
        "manifest": {"kind": "Service", "metadata": {"name": "iris", "namespace": "ml"}},
    }
    return [values[p] for p in inspect.signature(method).parameters]


class _Answer:
    data = b'{"items": []}'

    class metadata:
        labels: ClassVar[dict[str, str]] = {}


class RecordingApi:
    """Any of the client's API objects: records each call's keyword arguments."""

    def __init__(self, api: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.api = api
        self.calls = calls

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((f"{self.api}.{method}", kwargs))
            return _Answer()

        return call


def test_every_request_of_the_shell_carries_a_timeout() -> None:
    kube = Kube(client.ApiClient())
    calls: list[tuple[str, dict[str, Any]]] = []
    for api in ("core", "apps", "policy", "custom"):
        setattr(kube, api, RecordingApi(api, calls))
    for name, method in inspect.getmembers(kube, inspect.ismethod):
        if name.startswith("_"):
            continue
        # What comes back is no real answer; the request was made all the same.
        with contextlib.suppress(TypeError, KeyError, AttributeError, ValueError):
            method(*_arguments(method))
    for kind in ("Deployment", "PodDisruptionBudget"):
        kube.get_child(kind, "ml", "iris")
        kube.apply({"kind": kind, "metadata": {"name": "iris", "namespace": "ml"}})
    made = {call for call, _ in calls}
    assert len(made) >= 18, sorted(made)
    untimed = sorted({call for call, kwargs in calls if "_request_timeout" not in kwargs})
    assert not untimed, untimed


def test_a_listing_and_a_watch_each_carry_a_timeout() -> None:
    seen: list[dict[str, Any]] = []

    def list_all(**kwargs: Any) -> Any:
        seen.append(kwargs)
        response = mock.MagicMock()
        response.data = b'{"items": [], "metadata": {"resourceVersion": "1"}}'
        return response

    class Sink:
        def replace(self, bodies: list[Any], namespace: str | None) -> list[Any]:
            return []

        def upsert(self, body: Any) -> list[Any]:
            return []

        def delete(self, body: Any) -> list[Any]:
            return []

    informer: Informer[Any] = Informer("Thing", Sink(), lambda _: None, list_all)
    informer._relist(None)
    assert seen and "_request_timeout" in seen[0]
    with contextlib.suppress(Exception):  # the answer is no watch stream
        informer._watch(None, "1")
    watch = seen[-1]
    assert watch["watch"] is True and watch["timeout_seconds"] > 0
    assert "_request_timeout" in watch
