"""The store: objects (see `objects`) plus lists at a version, watches and deletion.

Deletion follows the real server's rules: finalizers hold an object (with its
deletionTimestamp set) until they are emptied, removal runs the garbage collector over owner
references at once, and deleting a namespace deletes what is in it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import errors
from .errors import ApiError
from .listing import ListOptions, decode_continue, key_of, order, page
from .objects import WHOLE, Objects, deleting, timestamp
from .resources import CUSTOM_RESOURCE_DEFINITIONS, NAMESPACES, Registry, ResourceType
from .watch import Watcher, view

Obj = dict[str, Any]

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CONTROL_MANAGER = "fakeapi"
GC_MANAGER = "generic-garbage-collector"


def _parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f"invalid resource version: {text!r}") from None


class Store(Objects):
    def __init__(
        self,
        registry: Registry,
        *,
        history_limit: int = 1000,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
    ) -> None:
        super().__init__(registry, history_limit=history_limit)
        for name in namespaces:
            self.create(NAMESPACES, None, {"metadata": {"name": name}}, manager=CONTROL_MANAGER)

    # --- lists ------------------------------------------------------------------------------

    def list_objects(self, rtype: ResourceType, namespace: str | None, options: ListOptions) -> Obj:
        with self.cond:
            start = ""
            if options.token:
                if options.resource_version:
                    raise errors.bad_request(
                        "specifying resource version is not allowed when using continue"
                    )
                at, start = decode_continue(options.token)
                if not self.history.covers(at):
                    raise errors.expired(
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."
                    )
                objects = self.history.snapshot(self._bucket(rtype.storage), rtype.storage, at)
            elif options.match and not options.resource_version:
                raise errors.bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided"
                )
            elif options.match == "Exact":
                at = _parse_rv(options.resource_version)
                if at > self._rv:
                    raise ApiError(504, f"Too large resource version: {at}, current: {self._rv}")
                if not self.history.covers(at):
                    raise errors.expired(
                        f"too old resource version: {at} ({self.history.compacted})"
                    )
                objects = self.history.snapshot(self._bucket(rtype.storage), rtype.storage, at)
            elif options.match in ("", "NotOlderThan"):
                wanted = _parse_rv(options.resource_version) if options.resource_version else 0
                if wanted > self._rv:
                    raise ApiError(
                        504, f"Too large resource version: {wanted}, current: {self._rv}"
                    )
                at, objects = self._rv, dict(self._bucket(rtype.storage))
            else:
                raise errors.bad_request(
                    f'resourceVersionMatch: Unsupported value: "{options.match}"'
                )
            return page(rtype, objects, namespace, options, at=at, start=start)

    # --- watches ----------------------------------------------------------------------------

    def watch(
        self,
        watcher: Watcher,
        resource_version: str | None,
        *,
        initial_events: bool = False,
    ) -> Watcher:
        """Registers a watch and queues what it must see first: the current objects as ADDED
        (no resourceVersion, or "0", or sendInitialEvents), or the changes after the given
        resourceVersion, or a 410 ERROR when that version is no longer in the history."""
        with self.cond:
            since = resource_version if resource_version not in (None, "", "0") else None
            start = _parse_rv(since) if since is not None else None
            if start is None or initial_events:
                bucket = self._bucket(watcher.rtype.storage)
                for key in sorted(bucket, key=order):
                    watcher.added(bucket[key])
                if initial_events:
                    watcher.bookmark(self._rv, initial_events_end=True)
            elif not self.history.covers(start):
                watcher.error(
                    errors.expired(
                        f"too old resource version: {start} ({self.history.compacted})"
                    ).status()
                )
                watcher.close()
                return watcher
            else:
                for change in self.history.since(start, watcher.rtype.storage):
                    watcher.offer(change.type, change.obj, change.prev)
            self._watchers.append(watcher)
            self.touch()
            return watcher

    def unwatch(self, watcher: Watcher) -> None:
        with self.cond:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
                self.touch()

    def watchers(self) -> list[Watcher]:
        with self.cond:
            return list(self._watchers)

    def bookmark(self, watchers: Iterable[Watcher]) -> int:
        with self.cond:
            count = 0
            for watcher in watchers:
                if watcher.bookmarks and not watcher.closed:
                    watcher.bookmark(self._rv)
                    count += 1
            return count

    def end_watches(
        self, which: Callable[[Watcher], bool], status: Mapping[str, Any] | None = None
    ) -> int:
        with self.cond:
            ended = [w for w in self._watchers if which(w)]
            for watcher in ended:
                if status is not None:
                    watcher.error(status)
                watcher.close()
                self._watchers.remove(watcher)
            self.touch()
            return len(ended)

    # --- writes: delete ---------------------------------------------------------------------

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Deletes an object; returns its last state and whether it is gone (False while
        finalizers hold it)."""
        with self.cond:
            old = self._existing(rtype, namespace, name)
            current = old["metadata"]
            wanted = preconditions or {}
            for field_name, label in (("resourceVersion", "ResourceVersion"), ("uid", "UID")):
                if wanted.get(field_name) not in (None, "", current[field_name]):
                    raise errors.conflict(
                        rtype,
                        name,
                        f"Precondition failed: {label} in precondition: {wanted[field_name]}, "
                        f"{label} in object meta: {current[field_name]}",
                    )
            if propagation not in ("Background", "Foreground", "Orphan"):
                raise errors.bad_request(f'propagationPolicy: Unsupported value: "{propagation}"')
            if dry_run:
                return view(rtype, old), not current.get("finalizers")
            if rtype.storage == NAMESPACES.storage:
                return self._delete_namespace(old)
            return self._delete(rtype, old, propagation)

    def _delete(self, rtype: ResourceType, old: Obj, propagation: str) -> tuple[Obj, bool]:
        if propagation == "Orphan":
            self._orphan(old)
        if old["metadata"].get("finalizers"):
            if deleting(old):
                return view(rtype, old), False
            marked = copy.deepcopy(old)
            meta = marked["metadata"]
            meta["deletionTimestamp"] = timestamp()
            meta["deletionGracePeriodSeconds"] = 0
            meta["generation"] = int(meta.get("generation") or 0) + 1
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._bucket(rtype.storage)[key_of(marked)] = marked
            self._record("MODIFIED", rtype, marked, old)
            return view(rtype, marked), False
        return view(rtype, self._remove(rtype, old, propagation)), True

    def _remove(self, rtype: ResourceType, obj: Obj, propagation: str = "Background") -> Obj:
        """Takes an object out of storage, then collects what it owned."""
        if propagation == "Foreground":
            self._collect(obj)
        key = key_of(obj)
        bucket = self._bucket(rtype.storage)
        if key not in bucket:
            return obj
        del bucket[key]
        self._uids.pop(obj["metadata"]["uid"], None)
        self._rv += 1
        final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self._rv)}}
        self._record("DELETED", rtype, final, obj)
        if rtype.storage == CUSTOM_RESOURCE_DEFINITIONS.storage:
            self._drop_crd(final)
        if propagation != "Foreground":
            self._collect(obj)
        if rtype.namespaced:
            self._finish_namespace(key[0])
        return final

    def _dependents(self, owner: Obj) -> list[tuple[ResourceType, Obj]]:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace")
        found = []
        for storage, bucket in list(self._objects.items()):
            for dependent in list(bucket.values()):
                refs = dependent["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                # A namespaced owner only owns objects in its own namespace.
                if namespace and dependent["metadata"].get("namespace") != namespace:
                    continue
                rtype = self.registry.of_storage(storage)
                if rtype is not None:
                    found.append((rtype, dependent))
        return found

    def _collect(self, owner: Obj) -> None:
        """The garbage collector, run at once: a dependent none of whose other owners exists
        is deleted (in the background); one with a living owner loses the dangling reference."""
        uid = owner["metadata"]["uid"]
        for rtype, dependent in self._dependents(owner):
            current = self._bucket(rtype.storage).get(key_of(dependent))
            if current is None:
                continue
            refs = current["metadata"].get("ownerReferences") or []
            remaining = [ref for ref in refs if ref.get("uid") != uid]
            if any(ref.get("uid") in self._uids for ref in remaining):
                self._set_owners(rtype, current, remaining)
            else:
                self._delete(rtype, current, "Background")

    def _orphan(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for rtype, dependent in self._dependents(owner):
            refs = dependent["metadata"].get("ownerReferences") or []
            self._set_owners(rtype, dependent, [ref for ref in refs if ref.get("uid") != uid])

    def _set_owners(self, rtype: ResourceType, obj: Obj, refs: list[Any]) -> None:
        candidate = copy.deepcopy(obj)
        if refs:
            candidate["metadata"]["ownerReferences"] = refs
        else:
            candidate["metadata"].pop("ownerReferences", None)
        self._update(rtype, obj, candidate, target=WHOLE, manager=GC_MANAGER)

    def _delete_namespace(self, namespace: Obj) -> tuple[Obj, bool]:
        """Marks the namespace Terminating and deletes what is in it, as the namespace
        controller would; the namespace goes once it is empty and has no finalizers."""
        name = namespace["metadata"]["name"]
        if not deleting(namespace):
            marked = copy.deepcopy(namespace)
            marked["metadata"]["deletionTimestamp"] = timestamp()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
            self._rv += 1
            marked["metadata"]["resourceVersion"] = str(self._rv)
            self._bucket(NAMESPACES.storage)[("", name)] = marked
            self._record("MODIFIED", NAMESPACES, marked, namespace)
        for storage, bucket in list(self._objects.items()):
            rtype = self.registry.of_storage(storage)
            if rtype is None or not rtype.namespaced:
                continue
            for key, obj in list(bucket.items()):
                if key[0] == name and key in bucket:
                    self._delete(rtype, obj, "Background")
        self._finish_namespace(name)
        current = self._bucket(NAMESPACES.storage).get(("", name))
        if current is None:
            return view(NAMESPACES, namespace), True
        return view(NAMESPACES, current), False

    def _finalized(self, rtype: ResourceType, obj: Obj) -> Obj:
        if rtype.storage == NAMESPACES.storage:
            self._finish_namespace(obj["metadata"]["name"])
            return self._bucket(NAMESPACES.storage).get(key_of(obj), obj)
        return self._remove(rtype, obj)

    def _finish_namespace(self, name: str) -> None:
        namespace = self._bucket(NAMESPACES.storage).get(("", name))
        if namespace is None or not deleting(namespace):
            return
        if namespace["metadata"].get("finalizers"):
            return
        for storage, bucket in self._objects.items():
            if storage != NAMESPACES.storage and any(key[0] == name for key in bucket):
                return
        self._remove(NAMESPACES, namespace)

    def _drop_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        storage = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        rtype = self.registry.of_storage(storage)
        if rtype is not None:
            for obj in list(self._bucket(storage).values()):
                self._remove(rtype, obj)
            self.end_watches(lambda w: w.rtype.storage == storage)
        self.registry.unregister(storage)

    def delete_collection(
        self, rtype: ResourceType, namespace: str | None, options: ListOptions, *, propagation: str
    ) -> Obj:
        with self.cond:
            listed = self.list_objects(rtype, namespace, options)
            for item in listed["items"]:
                existing = self._bucket(rtype.storage).get(key_of(item))
                if existing is not None:
                    self._delete(rtype, existing, propagation)
            return listed

    # --- control-API writes -----------------------------------------------------------------

    def put(self, rtype: ResourceType, obj: Mapping[str, Any]) -> Obj:
        """Stores an object as given, status included, creating or replacing it."""
        with self.cond:
            meta = obj.get("metadata") or {}
            namespace = (meta.get("namespace") or "default") if rtype.namespaced else None
            old = self._bucket(rtype.storage).get((namespace or "", meta.get("name", "")))
            if old is None:
                return self.create(rtype, namespace, obj, manager=CONTROL_MANAGER, keep_status=True)
            return self._update(
                rtype, old, copy.deepcopy(dict(obj)), target=WHOLE, manager=CONTROL_MANAGER
            )

    def remove(self, rtype: ResourceType, namespace: str | None, name: str) -> bool:
        """Takes an object out at once, finalizers or not (as if they had all run)."""
        with self.cond:
            old = self._bucket(rtype.storage).get((namespace or "", name))
            if old is None:
                return False
            self._remove(rtype, old)
            return True
