"""One open watch: which changes it is shown, and the queue its HTTP stream drains.

Events are filtered as the real watch cache filters them: a change that makes an object start
matching the selectors is shown as ADDED and one that makes it stop matching as DELETED, so a
client's view of "the matching objects" stays right. Events are serialised when they are
queued, under the store's lock, so the stream never sees an object mid-change.
"""

from __future__ import annotations

import itertools
import json
import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector

Obj = dict[str, Any]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"

_ids = itertools.count(1)


def view(rtype: ResourceType, obj: Mapping[str, Any], *, typed: bool = True) -> Obj:
    """An object as served in `rtype`'s version; `typed=False` drops kind and apiVersion, as
    the items of a built-in type's list lack them."""
    shown = dict(obj)
    shown.pop("apiVersion", None)
    shown.pop("kind", None)
    if not typed:
        return shown
    return {"apiVersion": rtype.api_version, "kind": rtype.kind, **shown}


def line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


@dataclass(eq=False)
class Watcher:
    rtype: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    bookmarks: bool
    path: str
    query: Mapping[str, str]
    id: int = field(default_factory=lambda: next(_ids))
    opened: float = field(default_factory=time.monotonic)
    # Serialised events, then None once the stream is to end.
    queue: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    closed: bool = False

    def _shows(self, obj: Mapping[str, Any] | None) -> bool:
        if obj is None:
            return False
        namespace = (obj.get("metadata") or {}).get("namespace")
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)

    def _push(self, kind: str, obj: Mapping[str, Any]) -> None:
        if not self.closed:
            self.queue.put(line({"type": kind, "object": view(self.rtype, obj)}))

    def added(self, obj: Mapping[str, Any]) -> None:
        if self._shows(obj):
            self._push("ADDED", obj)

    def offer(self, kind: str, obj: Mapping[str, Any], prev: Mapping[str, Any] | None) -> None:
        """Queues what a change (ADDED, MODIFIED or DELETED of `obj`, formerly `prev`) looks
        like through this watch's selectors, if anything."""
        now, before = self._shows(obj), self._shows(prev)
        if kind == "ADDED" and now:
            self._push("ADDED", obj)
        elif kind == "DELETED" and (before or now):
            self._push("DELETED", obj)
        elif kind == "MODIFIED":
            if now and before:
                self._push("MODIFIED", obj)
            elif now:
                self._push("ADDED", obj)
            elif before:
                self._push("DELETED", obj)

    def bookmark(self, resource_version: int, *, initial_events_end: bool = False) -> None:
        if not self.bookmarks or self.closed:
            return
        metadata: Obj = {"resourceVersion": str(resource_version)}
        if initial_events_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        self.queue.put(
            line(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": self.rtype.kind,
                        "apiVersion": self.rtype.api_version,
                        "metadata": metadata,
                    },
                }
            )
        )

    def error(self, status: Mapping[str, Any]) -> None:
        if not self.closed:
            self.queue.put(line({"type": "ERROR", "object": dict(status)}))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)


@dataclass(frozen=True)
class WatchInfo:
    """An open watch, as the control API reports it."""

    id: int
    path: str
    query: Mapping[str, str]
    resource: str
    namespace: str | None
    bookmarks: bool
