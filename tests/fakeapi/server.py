"""The server object: its lifecycle and the control API tests drive it with."""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml

from .api import Api
from .errors import ApiError, status_object
from .faults import Fault, Faults, RecordedRequest
from .http import Server
from .resources import BUILTINS, Registry, ResourceType
from .store import DEFAULT_NAMESPACES, Store
from .watch import Watcher, WatchInfo, view

T = TypeVar("T")
Obj = dict[str, Any]


class FakeApiServer:
    """An in-process Kubernetes API server on 127.0.0.1; see the package docstring.

    Use as a context manager (or `start()`/`stop()`); point a client at `url`, or at the
    file `kubeconfig()` writes.
    """

    def __init__(
        self,
        *,
        resources: Iterable[ResourceType] = (),
        history_limit: int = 1000,
        bookmark_interval: float | None = 60.0,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
    ) -> None:
        self.registry = Registry((*BUILTINS, *resources))
        self.store = Store(self.registry, history_limit=history_limit, namespaces=namespaces)
        self.api = Api(self.store, lambda: f"127.0.0.1:{self.port}")
        self.faults = Faults()
        # Seconds between the BOOKMARK events of watches that allow them; None: never. Read
        # by each watch as it goes, so a test may change it at any time.
        self.bookmark_interval: float | None = bookmark_interval
        self._requests: list[RecordedRequest] = []
        self._http: Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._http is None:
            self._http = Server(self)
            self._thread = threading.Thread(
                target=self._http.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"fakeapi-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is None:
            return
        self._http.shutdown()
        self.store.end_watches(lambda _watcher: True)
        self._http.close_connections()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._http = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the fake API server is not running")
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Writes a kubeconfig whose current context is this server; returns its path."""
        target = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fakeapi", "cluster": {"server": self.url}}],
            "users": [{"name": "fakeapi", "user": {}}],
            "contexts": [
                {
                    "name": "fakeapi",
                    "context": {"cluster": "fakeapi", "user": "fakeapi", "namespace": namespace},
                }
            ],
            "current-context": "fakeapi",
        }
        target.write_text(yaml.safe_dump(config))
        return target

    # --- the HTTP layer's hooks -------------------------------------------------------------

    def admit(self, request: RecordedRequest) -> ApiError | None:
        with self.store.cond:
            self._requests.append(request)
            self.store.touch()
        return self.faults.take(request)

    def answered(self, request: RecordedRequest, code: int) -> None:
        with self.store.cond:
            request.status = code
            self.store.touch()

    # --- resource types ---------------------------------------------------------------------

    def register(self, *resources: ResourceType) -> None:
        for rtype in resources:
            self.registry.register(rtype)

    def resource(self, name: str | ResourceType) -> ResourceType:
        """A registered type by plural, `plural.group`, kind or short name."""
        return self.registry.find(name)

    # --- state ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion the server has handed out."""
        return str(self.store.resource_version)

    def objects(self, resource: str | ResourceType, namespace: str | None = None) -> list[Obj]:
        """Copies of the stored objects of a type, ordered by namespace and name."""
        rtype = self.resource(resource)
        return self.store.objects(rtype, namespace if rtype.namespaced else None)

    def get(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Obj | None:
        """A copy of one stored object, or None."""
        rtype = self.resource(resource)
        found = self.store.find(rtype, namespace if rtype.namespaced else None, name)
        if found is None:
            return None
        return copy.deepcopy(view(rtype, found))

    def put(self, resource: str | ResourceType, obj: Mapping[str, Any]) -> Obj:
        """Creates or overwrites an object as given, status included, bypassing the status
        subresource split and resourceVersion checks (watches see the change as usual)."""
        return copy.deepcopy(self.store.put(self.resource(resource), obj))

    def delete(self, resource: str | ResourceType, name: str, namespace: str | None = None) -> bool:
        """Removes an object at once, finalizers or not; True if there was one."""
        rtype = self.resource(resource)
        return self.store.remove(rtype, namespace if rtype.namespaced else None, name)

    def compact(self) -> None:
        """Drops the event history: watches and exact lists from any older resourceVersion,
        and continue tokens issued before, get 410 Expired from now on."""
        self.store.compact()

    # --- watches ----------------------------------------------------------------------------

    def _selected(self, path_regex: str | None) -> Callable[[Watcher], bool]:
        pattern = re.compile(path_regex) if path_regex is not None else None
        return lambda w: pattern is None or pattern.search(w.path) is not None

    def watches(self, path_regex: str | None = None) -> list[WatchInfo]:
        """The open watch streams, optionally those whose path matches."""
        which = self._selected(path_regex)
        return [
            WatchInfo(w.id, w.path, dict(w.query), w.rtype.qualified, w.namespace, w.bookmarks)
            for w in self.store.watchers()
            if which(w)
        ]

    def end_watches(self, path_regex: str | None = None, *, error: int | None = None) -> int:
        """Closes open watch streams (those whose path matches); with `error` (e.g. 410),
        first sends an ERROR event carrying a Status of that code. Returns how many."""
        status = None
        if error is not None:
            reason = "Expired" if error == 410 else None
            message = "too old resource version" if error == 410 else f"watch ended: {error}"
            status = status_object(error, message, reason)
        return self.store.end_watches(self._selected(path_regex), status)

    def send_bookmarks(self, path_regex: str | None = None) -> int:
        """Sends a BOOKMARK now on every open watch that allows them; returns how many."""
        which = self._selected(path_regex)
        return self.store.bookmark(w for w in self.store.watchers() if which(w))

    # --- failures ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        reason: str | None = None,
        *,
        times: int = 1,
        message: str | None = None,
        watch: bool | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        """Makes the next `times` requests (every one if negative) whose method matches
        (`"*"` for any) and whose path the regex finds a match in fail with a Status of
        `status`, before anything is done. `watch` narrows it to watches (True) or other
        requests (False). The returned Fault counts its `hits`."""
        return self.faults.add(
            method,
            path_regex,
            status,
            reason,
            times=times,
            message=message,
            watch=watch,
            retry_after=retry_after,
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- requests ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order."""
        with self.store.cond:
            return list(self._requests)

    def request_count(
        self,
        method: str | None = None,
        path_regex: str | None = None,
        *,
        watch: bool | None = None,
    ) -> int:
        pattern = re.compile(path_regex) if path_regex is not None else None
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path) is not None)
            and (watch is None or r.watch == watch)
        )

    def clear_requests(self) -> None:
        with self.store.cond:
            self._requests.clear()

    # --- waiting ----------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, poll: float = 0.05) -> T:
        """Returns the predicate's first truthy value; raises TimeoutError after `timeout`.

        It is evaluated again on every change the server sees (objects, watches, requests)
        and, for conditions on the client's side, at least every `poll` seconds. It runs
        outside the server's lock, so it may call the control API or a client.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.store.cond:
                seen = self.store.changes
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            with self.store.cond:
                if self.store.changes == seen:
                    self.store.cond.wait(min(remaining, poll))
