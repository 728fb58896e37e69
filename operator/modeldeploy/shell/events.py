"""Kubernetes Events about a ModelDeployment, written through the core API."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from modeldeploy.api.spec import GROUP, KIND, VERSION

COMPONENT = "modeldeploy-operator"


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_event(
    namespace: str, name: str, uid: str, event_type: str, reason: str, message: str
) -> dict[str, Any]:
    now = _stamp()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class EventSink(Protocol):
    def create_event(self, event: dict[str, Any]) -> bool: ...
    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool: ...


@dataclass
class _Series:
    name: str
    count: int
    last_s: float


@dataclass
class _Bucket:
    tokens: float
    at_s: float


BURST = 25
"""Events one object may post at once (client-go's spam filter)."""
REFILL_S = 300.0
"""Seconds until one more may be posted, once the burst is spent."""
SERIES_WINDOW_S = 600.0
"""How long the same Event counts up on the one already posted instead of posting another."""
REMEMBERED = 4096


class EventRecorder:
    """Posts Events as client-go's recorder does: the same (object, type, reason, message)
    within `SERIES_WINDOW_S` raises the count of the Event already posted, and a token bucket
    per object (`BURST`, one more every `REFILL_S`) drops a flood, so that no ModelDeployment
    can fill its namespace's Events or the API server's etcd."""

    def __init__(
        self,
        sink: EventSink,
        clock: Callable[[], float] = time.monotonic,
        burst: int = BURST,
        refill_s: float = REFILL_S,
        window_s: float = SERIES_WINDOW_S,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._burst = burst
        self._refill_s = refill_s
        self._window_s = window_s
        self._lock = threading.Lock()
        self._series: OrderedDict[tuple[str, str, str, str, str], _Series] = OrderedDict()
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()

    def _take_token(self, key: tuple[str, str], now: float) -> bool:
        bucket = self._buckets.pop(key, None) or _Bucket(float(self._burst), now)
        refilled = (now - bucket.at_s) / self._refill_s
        bucket.tokens = min(float(self._burst), bucket.tokens + refilled)
        bucket.at_s = now
        self._buckets[key] = bucket
        while len(self._buckets) > REMEMBERED:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def record(
        self, namespace: str, name: str, uid: str, event_type: str, reason: str, message: str
    ) -> str:
        """Posts or counts up the Event; returns what was done: "created", "counted" or
        "dropped"."""
        message = message[:1024]
        key = (namespace, uid, event_type, reason, message)
        now = self._clock()
        with self._lock:
            if not self._take_token((namespace, uid), now):
                return "dropped"
            series = self._series.pop(key, None)
            if series is not None and now - series.last_s <= self._window_s:
                series.count += 1
                series.last_s = now
                self._series[key] = series
            else:
                series = None
        if series is not None:
            patch = {"count": series.count, "lastTimestamp": _stamp()}
            if self._sink.patch_event(namespace, series.name, patch):
                return "counted"
        event = build_event(namespace, name, uid, event_type, reason, message)
        if not self._sink.create_event(event):
            return "dropped"
        with self._lock:
            self._series[key] = _Series(event["metadata"]["name"], 1, now)
            while len(self._series) > REMEMBERED:
                self._series.popitem(last=False)
        return "created"
