"""List once, then watch: keeps a ChildStore in step with the API server for one kind.

Like client-go's reflector: a paginated LIST fills the store and gives a resourceVersion, a
WATCH from there streams every change (bookmarks keep the version fresh while nothing
happens), a watch that ends is resumed from the last version seen, and only a version the
server no longer has ("410 Gone") or an error makes it LIST again. At rest this costs one
WATCH request per `watch_timeout_s`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from modeldeploy import names
from modeldeploy.cache import DEPLOYMENT, ChildStore, Key

log = logging.getLogger(__name__)

OWNED_SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGER},{names.LABEL_NAME}"
PAGE_SIZE = 500


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


class ChildInformer:
    def __init__(
        self,
        api_client: client.ApiClient,
        kind: str,
        store: ChildStore,
        on_change: Callable[[Key], None],
        namespaces: list[str] | None = None,
        watch_timeout_s: int = 300,
    ) -> None:
        self.kind = kind
        self.store = store
        self.on_change = on_change
        self.namespaces = namespaces or []
        self.watch_timeout_s = watch_timeout_s
        self.synced = threading.Event()
        apps = client.AppsV1Api(api_client)
        core = client.CoreV1Api(api_client)
        self._all: Callable[..., Any]
        self._namespaced: Callable[..., Any]
        if kind == DEPLOYMENT:
            self._all = apps.list_deployment_for_all_namespaces
            self._namespaced = apps.list_namespaced_deployment
        else:
            self._all = core.list_service_for_all_namespaces
            self._namespaced = core.list_namespaced_service
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

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _call(self, namespace: str | None, **kwargs: Any) -> Any:
        kwargs.setdefault("label_selector", OWNED_SELECTOR)
        kwargs["_preload_content"] = False
        if namespace is None:
            return self._all(**kwargs)
        return self._namespaced(namespace, **kwargs)

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
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            page = json.loads(self._call(namespace, **kwargs).data)
            items.extend(page.get("items") or [])
            version = str(page["metadata"].get("resourceVersion", version))
            token = page["metadata"].get("continue")
            if not token:
                break
        for owner in self.store.replace(self.kind, items, namespace):
            self.on_change(owner)
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
                    meta = obj["metadata"]
                    owner = self.store.delete(self.kind, meta["namespace"], meta["name"])
                else:
                    owner = self.store.upsert(self.kind, obj)
                if owner is not None:
                    self.on_change(owner)
                if self._stop.is_set():
                    break
        finally:
            response.release_conn()
        return version


def _events(response: Any) -> Iterator[dict[str, Any]]:
    for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
        if line:
            yield json.loads(line)
