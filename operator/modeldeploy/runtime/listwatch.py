"""List once, then watch: keeps a store in step with the API server for one kind.

Like client-go's reflector: a paginated LIST fills the store and gives a resourceVersion, a
WATCH from there streams every change (bookmarks keep the version fresh while nothing
happens), a watch that ends is resumed from the last version seen, and only a version the
server no longer has ("410 Gone") or an error makes it LIST again. At rest this costs one
WATCH request per `watch_timeout_s`.

Each watch has a sink: it takes in what the watch sees and names the keys (whatever its user
queues work by) that a change concerns; each is handed to `on_change`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger(__name__)

PAGE_SIZE = 500
LIST_TIMEOUT = (10.0, 60.0)
"""(connect, read) seconds for one page of a listing."""


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


Body = dict[str, Any]
Key = TypeVar("Key", bound=Hashable)
Key_co = TypeVar("Key_co", bound=Hashable, covariant=True)


class Sink(Protocol[Key_co]):
    """Where an informer puts what it sees; each method returns the objects concerned."""

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key_co]: ...
    def upsert(self, body: Body) -> Iterable[Key_co]: ...
    def delete(self, body: Body) -> Iterable[Key_co]: ...


class Informer(Generic[Key]):
    def __init__(
        self,
        kind: str,
        sink: Sink[Key],
        on_change: Callable[[Key], None],
        list_all: Callable[..., Any],
        list_namespaced: Callable[..., Any] | None = None,
        namespaces: list[str] | None = None,
        label_selector: str | None = None,
        watch_timeout_s: int = 300,
    ) -> None:
        self.kind = kind
        self.sink = sink
        self.on_change = on_change
        # A kind without a namespaced listing (cluster-scoped) is watched across the cluster.
        self.namespaces = (namespaces or []) if list_namespaced is not None else []
        self.label_selector = label_selector
        self.watch_timeout_s = watch_timeout_s
        self.synced = threading.Event()
        self._all = list_all
        self._namespaced = list_namespaced
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._run, args=(namespace,), name=f"informer-{kind}", daemon=True
            )
            for namespace in self._scopes()
        ]
        self._listed: set[str | None] = set()
        self._listed_lock = threading.Lock()

    def _scopes(self) -> list[str | None]:
        """One watch per namespace, or one across all of them."""
        return [*self.namespaces] if self.namespaces else [None]

    def alive(self) -> bool:
        """Whether every watch thread still runs (before `start`, none has died)."""
        return all(thread.is_alive() or thread.ident is None for thread in self._threads)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _call(self, namespace: str | None, **kwargs: Any) -> Any:
        if self.label_selector:
            kwargs.setdefault("label_selector", self.label_selector)
        kwargs["_preload_content"] = False
        if namespace is None or self._namespaced is None:
            return self._all(**kwargs)
        return self._namespaced(namespace, **kwargs)

    def _notify(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.on_change(key)

    def _run(self, namespace: str | None) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._relist(namespace)
                failures = 0
                while not self._stop.is_set():
                    version = self._watch(namespace, version)
            except _Gone:
                log.info("%s watch expired; listing again", self.kind)
            except Exception as error:
                failures += 1
                delay = min(0.5 * 2**failures, 30.0) * random.uniform(0.8, 1.2)
                log.warning("%s watch failed (%s); again in %.1fs", self.kind, error, delay)
                self._stop.wait(delay)

    def _relist(self, namespace: str | None) -> str:
        items: list[dict[str, Any]] = []
        token: str | None = None
        version = ""
        while True:
            # A page that never comes must not stall the watch: the loop lists again.
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": LIST_TIMEOUT}
            if token:
                kwargs["_continue"] = token
            page = json.loads(self._call(namespace, **kwargs).data)
            items.extend(page.get("items") or [])
            version = str(page["metadata"].get("resourceVersion", version))
            token = page["metadata"].get("continue")
            if not token:
                break
        self._notify(self.sink.replace(items, namespace))
        with self._listed_lock:
            self._listed.add(namespace)
            if len(self._listed) == len(self._threads):
                self.synced.set()
        return version

    def _watch(self, namespace: str | None, version: str) -> str:
        timeout = int(self.watch_timeout_s * random.uniform(0.9, 1.1))
        response = self._call(
            namespace,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout,
            _request_timeout=(10, timeout + 30),
        )
        try:
            for event in _events(response):
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    self._notify(self.sink.delete(obj))
                else:
                    self._notify(self.sink.upsert(obj))
                if self._stop.is_set():
                    break
        finally:
            response.release_conn()
        return version


def _events(response: Any) -> Iterator[dict[str, Any]]:
    for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
        if line:
            yield json.loads(line)
