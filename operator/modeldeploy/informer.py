"""List once, then watch: keeps a store in step with the API server for one kind.

Like client-go's reflector: a paginated LIST fills the store and gives a resourceVersion, a
WATCH from there streams every change (bookmarks keep the version fresh while nothing
happens), a watch that ends is resumed from the last version seen, and only a version the
server no longer has ("410 Gone") or an error makes it LIST again. At rest this costs one
WATCH request per `watch_timeout_s`.

Each kind has a sink: it takes in what the watch sees and names the ModelDeployments that a
change concerns, which are then queued for a reconcile.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from modeldeploy import names
from modeldeploy.cache import (
    DEPLOYMENT,
    Body,
    ChildStore,
    Key,
    ModelDeploymentStore,
    NamespaceStore,
    PolicyStore,
)
from modeldeploy.policy.model import POLICY_PLURAL
from modeldeploy.spec import GROUP, VERSION

log = logging.getLogger(__name__)

OWNED_SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGER},{names.LABEL_NAME}"
PAGE_SIZE = 500


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


class Sink(Protocol):
    """Where an informer puts what it sees; each method returns the objects concerned."""

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]: ...
    def upsert(self, body: Body) -> Iterable[Key]: ...
    def delete(self, body: Body) -> Iterable[Key]: ...


class Informer:
    def __init__(
        self,
        kind: str,
        sink: Sink,
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
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
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


class ChildSink:
    """Deployments or Services the operator owns; a change concerns their owner."""

    def __init__(self, store: ChildStore, kind: str) -> None:
        self.store = store
        self.kind = kind

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self.store.replace(self.kind, bodies, namespace)

    def upsert(self, body: Body) -> Iterable[Key]:
        owner = self.store.upsert(self.kind, body)
        return [owner] if owner is not None else []

    def delete(self, body: Body) -> Iterable[Key]:
        meta = body["metadata"]
        owner = self.store.delete(self.kind, meta["namespace"], meta["name"])
        return [owner] if owner is not None else []


class PolicySink:
    """ClusterRolloutPolicies; a change may concern any ModelDeployment (policies change
    rarely, and a reconcile that finds nothing to do writes nothing)."""

    def __init__(self, store: PolicyStore, models: ModelDeploymentStore) -> None:
        self.store = store
        self.models = models

    def _all_if(self, changed: bool) -> Iterable[Key]:
        return self.models.keys() if changed else []

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self._all_if(self.store.replace(bodies))

    def upsert(self, body: Body) -> Iterable[Key]:
        return self._all_if(self.store.upsert(body))

    def delete(self, body: Body) -> Iterable[Key]:
        return self._all_if(self.store.delete(body["metadata"]["name"]))


class NamespaceSink:
    """Namespaces; a change of labels concerns the ModelDeployments inside."""

    def __init__(self, store: NamespaceStore, models: ModelDeploymentStore) -> None:
        self.store = store
        self.models = models

    def _inside(self, changed: Iterable[str]) -> Iterable[Key]:
        names = set(changed)
        return [key for key in self.models.keys() if key[0] in names] if names else []  # noqa: SIM118

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self._inside(self.store.replace(bodies))

    def upsert(self, body: Body) -> Iterable[Key]:
        changed = self.store.upsert(body)
        return self._inside([changed] if changed else [])

    def delete(self, body: Body) -> Iterable[Key]:
        gone = self.store.delete(body["metadata"]["name"])
        return self._inside([gone] if gone else [])


def child_informer(
    api_client: client.ApiClient,
    kind: str,
    store: ChildStore,
    on_change: Callable[[Key], None],
    namespaces: list[str] | None = None,
    watch_timeout_s: int = 300,
) -> Informer:
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    listing: tuple[Callable[..., Any], Callable[..., Any]]
    if kind == DEPLOYMENT:
        listing = (apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment)
    else:
        listing = (core.list_service_for_all_namespaces, core.list_namespaced_service)
    return Informer(
        kind,
        ChildSink(store, kind),
        on_change,
        *listing,
        namespaces=namespaces,
        label_selector=OWNED_SELECTOR,
        watch_timeout_s=watch_timeout_s,
    )


def policy_informer(
    api_client: client.ApiClient,
    store: PolicyStore,
    models: ModelDeploymentStore,
    on_change: Callable[[Key], None],
    watch_timeout_s: int = 300,
) -> Informer:
    custom = client.CustomObjectsApi(api_client)

    def list_policies(**kwargs: Any) -> Any:
        return custom.list_cluster_custom_object(GROUP, VERSION, POLICY_PLURAL, **kwargs)

    return Informer(
        "ClusterRolloutPolicy",
        PolicySink(store, models),
        on_change,
        list_policies,
        watch_timeout_s=watch_timeout_s,
    )


def namespace_informer(
    api_client: client.ApiClient,
    store: NamespaceStore,
    models: ModelDeploymentStore,
    on_change: Callable[[Key], None],
    watch_timeout_s: int = 300,
) -> Informer:
    return Informer(
        "Namespace",
        NamespaceSink(store, models),
        on_change,
        client.CoreV1Api(api_client).list_namespace,
        watch_timeout_s=watch_timeout_s,
    )
