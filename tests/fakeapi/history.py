"""The bounded history of changes, as etcd keeps revisions until compaction.

A watch can start from any resourceVersion the history still covers, and a list can be
served as of such a version (for `resourceVersionMatch=Exact` and for continue tokens) by
undoing the later changes. Versions older than what the history covers are gone: 410 Expired.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .listing import ObjKey, key_of
from .resources import Storage

Obj = dict[str, Any]


@dataclass(frozen=True)
class Change:
    rv: int
    storage: Storage
    type: str  # ADDED, MODIFIED or DELETED
    obj: Obj
    prev: Obj | None  # the state before (None for ADDED)


class History:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._changes: deque[Change] = deque()
        # The oldest resourceVersion a watch or list may start from: every change after it
        # is still here.
        self.compacted = 0

    def append(self, change: Change) -> None:
        self._changes.append(change)
        while len(self._changes) > self.limit:
            self.compacted = self._changes.popleft().rv

    def compact(self, resource_version: int) -> None:
        self._changes.clear()
        self.compacted = resource_version

    def covers(self, resource_version: int) -> bool:
        return resource_version >= self.compacted

    def since(self, resource_version: int, storage: Storage) -> Iterator[Change]:
        return (c for c in self._changes if c.rv > resource_version and c.storage == storage)

    def snapshot(
        self, current: Mapping[ObjKey, Obj], storage: Storage, resource_version: int
    ) -> dict[ObjKey, Obj]:
        """The objects of a storage as they were at `resource_version`, from their current
        state, by undoing the later changes."""
        objects = dict(current)
        for change in reversed(self._changes):
            if change.rv <= resource_version:
                break
            if change.storage != storage:
                continue
            if change.type == "ADDED":
                objects.pop(key_of(change.obj), None)
            elif change.prev is not None:
                objects[key_of(change.obj)] = change.prev
        return objects
