"""The stored objects and the rules every write to them follows.

One lock guards everything, so each request sees and leaves a consistent state, and events
reach the watches in resourceVersion order. resourceVersion is one counter shared by all
types, as etcd's revision is. Stored objects are never changed in place: each write stores a
new tree, so the history can keep references to old states and serialise them later.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from . import errors
from .apply import ApplyConflict, ManagedEntry, apply, ownership, read_entries, track_update
from .apply import write_entries as encode_entries
from .errors import ApiError
from .fields import dotted
from .history import Change, History
from .listing import ObjKey, key_of, order
from .resources import (
    CUSTOM_RESOURCE_DEFINITIONS,
    NAMESPACES,
    Registry,
    ResourceType,
    Storage,
    from_crd,
)
from .validation import metadata_problems, name_problem, normalise_times
from .watch import Watcher, view

Obj = dict[str, Any]

WHOLE = "*"  # the target of control-API writes: the whole object, status included
SERVER_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deleting(obj: Mapping[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


class Objects:
    """Objects by type, namespace and name, their history, and create, update and apply."""

    def __init__(self, registry: Registry, *, history_limit: int = 1000) -> None:
        self.registry = registry
        self.cond = threading.Condition(threading.RLock())
        # Bumped on every change of anything a test may wait for (objects, watches, requests).
        self.changes = 0
        self.history = History(history_limit)
        self._objects: dict[Storage, dict[ObjKey, Obj]] = {}
        self._uids: dict[str, tuple[Storage, ObjKey]] = {}
        self._rv = 0
        self._watchers: list[Watcher] = []

    def _finalized(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Called when an update empties the finalizers of an object being deleted; returns
        what is left (the deletion rules live in `store`)."""
        raise NotImplementedError

    # --- bookkeeping ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def touch(self) -> None:
        """Wakes everyone waiting for a condition; call with the lock held."""
        self.changes += 1
        self.cond.notify_all()

    def _record(self, kind: str, rtype: ResourceType, obj: Obj, prev: Obj | None) -> None:
        change = Change(self._rv, rtype.storage, kind, obj, prev)
        self.history.append(change)
        for watcher in self._watchers:
            if watcher.rtype.storage == change.storage:
                watcher.offer(kind, obj, prev)
        self.touch()

    def _bucket(self, storage: Storage) -> dict[ObjKey, Obj]:
        return self._objects.setdefault(storage, {})

    def compact(self) -> None:
        """Forgets the history, as etcd compaction does: every older version is now gone."""
        with self.cond:
            self.history.compact(self._rv)
            self.touch()

    # --- reads ------------------------------------------------------------------------------

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        with self.cond:
            return self._bucket(rtype.storage).get((namespace or "", name))

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        found = self.find(rtype, namespace, name)
        if found is None:
            raise errors.not_found(rtype, name)
        return view(rtype, found)

    def objects(self, rtype: ResourceType, namespace: str | None = None) -> list[Obj]:
        with self.cond:
            bucket = self._bucket(rtype.storage)
            keys = sorted(bucket, key=order)
            return [
                copy.deepcopy(view(rtype, bucket[k]))
                for k in keys
                if namespace is None or k[0] == namespace
            ]

    # --- writes: create ---------------------------------------------------------------------

    def _check_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        ns = self._bucket(NAMESPACES.storage).get(("", namespace))
        if ns is None:
            raise errors.not_found(NAMESPACES, namespace)
        if deleting(ns):
            raise ApiError(
                403,
                f'{rtype.qualified} "{name}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                "Forbidden",
            )

    def _unique_name(self, rtype: ResourceType, namespace: str, prefix: str) -> str:
        bucket = self._bucket(rtype.storage)
        while True:
            name = prefix + "".join(random.choices(_NAME_SUFFIX, k=5))
            if (namespace, name) not in bucket:
                return name

    def _validate(self, rtype: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        problems = metadata_problems(meta) + normalise_times(rtype, obj)
        if problem := name_problem(rtype, meta["name"]):
            problems.insert(0, ("metadata.name", problem))
        if problems:
            raise errors.invalid(rtype, meta["name"], problems)

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Mapping[str, Any],
        *,
        manager: str,
        dry_run: bool = False,
        entries: list[ManagedEntry] | None = None,
        keep_status: bool = False,
    ) -> Obj:
        with self.cond:
            if not isinstance(body, Mapping) or not isinstance(body.get("metadata", {}), Mapping):
                raise errors.bad_request("the body of the request is not a valid object")
            obj: Obj = copy.deepcopy(dict(body))
            self._check_type(rtype, obj)
            meta: Obj = dict(obj.get("metadata") or {})
            obj = {"apiVersion": rtype.api_version, "kind": rtype.kind, **obj, "metadata": meta}
            if rtype.namespaced:
                namespace = namespace or meta.get("namespace") or "default"
                if meta.get("namespace") not in (None, "", namespace):
                    raise errors.bad_request(
                        "the namespace of the provided object does not match the namespace "
                        "sent on the request"
                    )
                meta["namespace"] = namespace
            else:
                namespace = ""
                meta.pop("namespace", None)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise errors.invalid(
                        rtype,
                        "",
                        [("metadata.name", "Required value: name or generateName is required")],
                    )
                meta["name"] = self._unique_name(rtype, namespace, meta["generateName"])
            if rtype.namespaced:
                self._check_namespace(rtype, namespace, meta["name"])
            for server_field in (*SERVER_METADATA[2:], "resourceVersion", "managedFields"):
                meta.pop(server_field, None)
            if rtype.storage == NAMESPACES.storage:
                meta["labels"] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: meta["name"]}
            self._validate(rtype, obj)
            if (namespace, meta["name"]) in self._bucket(rtype.storage):
                raise errors.already_exists(rtype, meta["name"])
            if rtype.status and not keep_status:
                obj.pop("status", None)
                self._initial_status(rtype, obj)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=timestamp(), generation=1)
            if entries is None:
                writer = ManagedEntry(manager, "Update", "", rtype.api_version, timestamp())
                entries = track_update(None, obj, [], writer, rtype.status)
            if entries:
                meta["managedFields"] = encode_entries(entries)
            if dry_run:
                return view(rtype, obj)
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._bucket(rtype.storage)[(namespace, meta["name"])] = obj
            self._uids[meta["uid"]] = (rtype.storage, (namespace, meta["name"]))
            self._record("ADDED", rtype, obj, None)
            if rtype.storage == CUSTOM_RESOURCE_DEFINITIONS.storage:
                for served in from_crd(obj):
                    self.registry.register(served)
            return view(rtype, obj)

    def _check_type(self, rtype: ResourceType, obj: Mapping[str, Any]) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        # Another version of the same group is fine: it names the same objects.
        same_group = bool(rtype.group) and str(api_version).startswith(f"{rtype.group}/")
        if api_version not in (None, "", rtype.api_version) and not same_group:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rtype.api_version})"
            )
        if kind not in (None, "") and kind != rtype.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})"
            )

    def _initial_status(self, rtype: ResourceType, obj: Obj) -> None:
        if rtype.storage == NAMESPACES.storage:
            obj["status"] = {"phase": "Active"}
        elif rtype.storage == CUSTOM_RESOURCE_DEFINITIONS.storage:
            spec = obj.get("spec") or {}
            stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
            conditions = [
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "lastTransitionTime": timestamp(),
                }
                for kind, reason in (
                    ("NamesAccepted", "NoConflicts"),
                    ("Established", "InitialNamesAccepted"),
                )
            ]
            obj["status"] = {
                "conditions": conditions,
                "acceptedNames": spec.get("names") or {},
                "storedVersions": stored,
            }

    # --- writes: update ---------------------------------------------------------------------

    def _preconditions(
        self, rtype: ResourceType, old: Obj, meta: Mapping[str, Any], *, need_version: bool
    ) -> None:
        current = old["metadata"]
        name = current["name"]
        if meta.get("name") not in (None, "", name):
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if meta.get("namespace") not in (None, "", current.get("namespace", "")):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if meta.get("uid") not in (None, "", current["uid"]):
            raise errors.conflict(
                rtype,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: "
                f"{current['uid']}",
            )
        version = meta.get("resourceVersion")
        if version in (None, ""):
            if need_version and not rtype.unconditional_update:
                raise errors.invalid(
                    rtype,
                    name,
                    [
                        (
                            "metadata.resourceVersion",
                            "Invalid value: 0x0: must be specified for an update",
                        )
                    ],
                )
        elif str(version) != current["resourceVersion"]:
            raise errors.stale(rtype, name)

    def _separate(self, rtype: ResourceType, old: Obj, candidate: Obj, target: str) -> Obj:
        """What of `candidate` a write to `target` may change: with a status subresource,
        writes to the object leave status alone and writes to /status change only status."""
        if target == WHOLE or not rtype.status:
            return copy.deepcopy(candidate)
        if target == "status":
            new = copy.deepcopy(old)
            source = candidate
        else:
            new = copy.deepcopy(candidate)
            source = old
        if "status" in source:
            new["status"] = copy.deepcopy(source["status"])
        else:
            new.pop("status", None)
        return new

    def _update(
        self,
        rtype: ResourceType,
        old: Obj,
        candidate: Obj,
        *,
        target: str,
        manager: str,
        dry_run: bool = False,
        entries: list[ManagedEntry] | None = None,
        need_version: bool = False,
    ) -> Obj:
        """Stores `candidate` as the new state of `old` (the stored object) after the checks
        and server-side bookkeeping; returns the object as stored."""
        candidate_meta = candidate.get("metadata")
        if not isinstance(candidate_meta, Mapping):
            candidate_meta = {}
        if target != WHOLE:
            self._check_type(rtype, candidate)
            self._preconditions(rtype, old, candidate_meta, need_version=need_version)
        new = self._separate(rtype, old, candidate, target)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        meta: Obj = dict(new.get("metadata") or {}) if target != "status" else dict(old["metadata"])
        new["metadata"] = meta
        old_meta = old["metadata"]
        for server_field in SERVER_METADATA:
            if server_field in old_meta:
                meta[server_field] = old_meta[server_field]
            else:
                meta.pop(server_field, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if rtype.storage == NAMESPACES.storage:
            meta["labels"] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: meta["name"]}
        self._validate(rtype, new)
        if deleting(old):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise errors.invalid(
                    rtype,
                    meta["name"],
                    [
                        (
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted",
                        )
                    ],
                )
        if self._spec_of(rtype, new) != self._spec_of(rtype, old):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if entries is None:
            subresource = "" if target == WHOLE else target
            writer = ManagedEntry(manager, "Update", subresource, rtype.api_version, timestamp())
            entries = track_update(old, new, read_entries(old), writer, rtype.status)
        meta.pop("managedFields", None)
        unchanged = new == {
            **old,
            "metadata": {k: v for k, v in old_meta.items() if k != "managedFields"},
        }
        if unchanged and ownership(entries) == ownership(read_entries(old)):
            # A write that changes nothing is not stored: no new resourceVersion, no event.
            return view(rtype, old)
        if entries:
            meta["managedFields"] = encode_entries(entries)
        if dry_run:
            return view(rtype, new)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        key = key_of(new)
        self._bucket(rtype.storage)[key] = new
        self._record("MODIFIED", rtype, new, old)
        if rtype.storage == CUSTOM_RESOURCE_DEFINITIONS.storage:
            for served in from_crd(new):
                self.registry.register(served)
        if deleting(new) and not meta.get("finalizers"):
            return view(rtype, self._finalized(rtype, new))
        stored = self._bucket(rtype.storage).get(key, new)
        return view(rtype, stored)

    @staticmethod
    def _spec_of(rtype: ResourceType, obj: Mapping[str, Any]) -> Obj:
        """What metadata.generation counts changes of: all but metadata, and but status when
        status is a subresource."""
        skipped = {"metadata", "apiVersion", "kind"} | ({"status"} if rtype.status else set())
        return {k: v for k, v in obj.items() if k not in skipped}

    def _existing(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        found = self._bucket(rtype.storage).get((namespace or "", name))
        if found is None:
            raise errors.not_found(rtype, name)
        return found

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        *,
        target: str = "",
        manager: str,
        dry_run: bool = False,
    ) -> Obj:
        with self.cond:
            if not isinstance(body, Mapping):
                raise errors.bad_request("the body of the request is not a valid object")
            old = self._existing(rtype, namespace, name)
            return self._update(
                rtype,
                old,
                copy.deepcopy(dict(body)),
                target=target,
                manager=manager,
                dry_run=dry_run,
                need_version=True,
            )

    def modify(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Obj],
        *,
        target: str = "",
        manager: str,
        dry_run: bool = False,
    ) -> Obj:
        """Read-modify-write under the lock: a patch. `change` gets a copy of the object."""
        with self.cond:
            old = self._existing(rtype, namespace, name)
            candidate = change(copy.deepcopy(view(rtype, old)))
            if not isinstance(candidate, dict):
                raise errors.bad_request("the patched document is not an object")
            return self._update(
                rtype, old, candidate, target=target, manager=manager, dry_run=dry_run
            )

    def apply(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        config: Mapping[str, Any],
        *,
        target: str = "",
        manager: str,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Server-side apply; returns the object and whether it was created."""
        with self.cond:
            if not isinstance(config, Mapping) or not isinstance(config.get("metadata"), Mapping):
                raise errors.bad_request("an apply configuration must be an object with metadata")
            if not config.get("apiVersion") or not config.get("kind"):
                raise errors.bad_request(
                    "apiVersion and kind must be set in an apply configuration"
                )
            self._check_type(rtype, config)
            meta = config["metadata"]
            if meta.get("name") not in (None, "", name):
                raise errors.bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the "
                    f"URL ({name})"
                )
            applier = ManagedEntry(manager, "Apply", target, rtype.api_version, timestamp())
            old = self._bucket(rtype.storage).get((namespace or "", name))
            if old is None and target:
                raise errors.not_found(rtype, name)
            try:
                merged, entries = apply(old, config, applier, force=force, has_status=rtype.status)
            except ApplyConflict as conflict:
                raise ApiError(
                    409,
                    conflict.message(),
                    "Conflict",
                    {
                        "name": name,
                        "group": rtype.group,
                        "kind": rtype.plural,
                        "causes": [
                            {
                                "type": "FieldManagerConflict",
                                "message": f'conflict with "{c.manager}" using {c.api_version}',
                                "field": conflict_field,
                            }
                            for c in conflict.conflicts
                            for conflict_field in [dotted(c.path)]
                        ],
                    },
                ) from None
            merged_meta = dict(merged.get("metadata") or {})
            merged["metadata"] = merged_meta
            merged_meta["name"] = name
            if rtype.namespaced and meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            if old is None:
                body = {"apiVersion": config["apiVersion"], "kind": config["kind"], **merged}
                if rtype.namespaced:
                    merged_meta["namespace"] = namespace
                created = self.create(
                    rtype, namespace, body, manager=manager, dry_run=dry_run, entries=entries
                )
                return created, True
            if meta.get("resourceVersion"):
                merged_meta["resourceVersion"] = meta["resourceVersion"]
            updated = self._update(
                rtype,
                old,
                merged,
                target=target,
                manager=manager,
                dry_run=dry_run,
                entries=entries,
            )
            return updated, False
