"""Watching objects for the plugin: from a resourceVersion, with bookmarks, each watch bounded
by the time left, again from the last version seen when a watch ends, and after a list when
the history no longer covers that version (410 Gone)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError, ReadTimeoutError

Obj = dict[str, Any]
ListCall = Callable[..., Any]

WATCH_WINDOW_S = 300
"""The longest one watch request stays open; then it is opened again from where it was."""
CONNECT_TIMEOUT_S = 10.0
READ_SLACK_S = 30.0
"""How long past its own timeout a watch may stay silent before the plugin gives up on the
connection (the server ends it at `timeoutSeconds`) and opens another."""


@dataclass(frozen=True)
class Change:
    kind: str
    """ADDED, MODIFIED or DELETED for one object; LISTED when the objects were listed again:
    `objects` is then all there is."""
    objects: list[Obj]


def list_objects(list_call: ListCall) -> tuple[list[Obj], str]:
    """The objects a list call returns, as JSON, and the list's resourceVersion."""
    response = list_call(_preload_content=False, _request_timeout=(CONNECT_TIMEOUT_S, 60.0))
    listed = json.loads(response.data)
    return list(listed.get("items") or []), str(listed["metadata"]["resourceVersion"])


def changes(
    list_call: ListCall,
    resource_version: str,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Change]:
    """The changes to what `list_call` lists (a list function with its selectors bound), from
    `resource_version` until `deadline` (a `clock` time; None: for ever)."""
    version = resource_version
    while True:
        window = WATCH_WINDOW_S
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                return
            window = min(WATCH_WINDOW_S, max(1, math.ceil(left)))
        watcher = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            stream = watcher.stream(  # type: ignore[no-untyped-call]
                list_call,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=window,
                _request_timeout=(CONNECT_TIMEOUT_S, window + READ_SLACK_S),
            )
            for event in stream:
                obj = event["raw_object"]
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    yield Change(event["type"], [obj])
                if deadline is not None and clock() >= deadline:
                    watcher.stop()  # type: ignore[no-untyped-call]
                    return
        except ApiException as error:
            if error.status != 410:
                raise
            # Expired: what changed meanwhile is only known by listing again.
            objects, version = list_objects(list_call)
            yield Change("LISTED", objects)
        except (ReadTimeoutError, ProtocolError):
            pass  # the connection went quiet or broke: watch again from the last version
