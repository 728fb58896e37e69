"""Field ownership: `metadata.managedFields`, server-side apply, and what updates take over.

Each (manager, operation, subresource) entry owns a set of field paths (see `fields`). An
update (create, PUT, merge/JSON/strategic patch) gives its manager the fields whose value it
changed and takes them from everyone else. An apply gives its manager exactly the fields in
its configuration; a field another manager owns and the configuration sets to a different
value is a conflict unless forced, and forcing takes the field from that manager. A field the
manager applied before but no longer applies is removed from the object unless someone else
still owns it. Ownership is tracked per leaf and per keyed list item; conflicts are found on
leaves only, so setting a map where another manager owns a field inside it is no conflict.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .fields import (
    MISSING,
    Path,
    Scope,
    decode,
    dotted,
    encode,
    in_scope,
    is_leaf,
    paths_of,
    remove_at,
    value_at,
)
from .schema import find_item, is_set, list_key

Obj = dict[str, Any]


@dataclass
class ManagedEntry:
    manager: str
    operation: str  # "Apply" or "Update"
    subresource: str  # "" for the main resource
    api_version: str
    time: str
    paths: set[Path] = field(default_factory=set)

    def same_owner(self, other: ManagedEntry) -> bool:
        return (self.manager, self.operation, self.subresource) == (
            other.manager,
            other.operation,
            other.subresource,
        )


@dataclass(frozen=True)
class Conflict:
    manager: str
    api_version: str
    path: Path


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        count = len(self.conflicts)
        managers = sorted({(c.manager, c.api_version) for c in self.conflicts})
        who = ", ".join(f'"{m}" using {v}' for m, v in managers)
        noun = "conflict" if count == 1 else "conflicts"
        if count == 1:
            only = dotted(self.conflicts[0].path)
            return f"Apply failed with 1 conflict: conflict with {who}: {only}"
        fields = "\n".join(f"- {dotted(c.path)}" for c in self.conflicts)
        return f"Apply failed with {count} {noun}: conflicts with {who}:\n{fields}"


def scope_of(subresource: str, has_status: bool) -> Scope:
    if not has_status:
        return "all"
    return "status" if subresource == "status" else "main"


def read_entries(obj: Mapping[str, Any] | None) -> list[ManagedEntry]:
    if obj is None:
        return []
    entries = []
    for raw in (obj.get("metadata") or {}).get("managedFields") or []:
        entries.append(
            ManagedEntry(
                manager=raw.get("manager", ""),
                operation=raw.get("operation", "Update"),
                subresource=raw.get("subresource", ""),
                api_version=raw.get("apiVersion", ""),
                time=raw.get("time", ""),
                paths=decode(raw.get("fieldsV1") or {}),
            )
        )
    return entries


def write_entries(entries: list[ManagedEntry]) -> list[Obj]:
    written = []
    for entry in entries:
        raw: Obj = {
            "manager": entry.manager,
            "operation": entry.operation,
            "apiVersion": entry.api_version,
            "time": entry.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode(entry.paths),
        }
        if entry.subresource:
            raw["subresource"] = entry.subresource
        written.append(raw)
    return written


def ownership(entries: list[ManagedEntry]) -> list[tuple[str, str, str, frozenset[Path]]]:
    """What the entries say, without their timestamps (which alone never make a change)."""
    return [(e.manager, e.operation, e.subresource, frozenset(e.paths)) for e in entries if e.paths]


def track_update(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    entries: list[ManagedEntry],
    writer: ManagedEntry,
    has_status: bool,
) -> list[ManagedEntry]:
    """The entries after `writer` (an Update) turned `old` into `new`."""
    scope = scope_of(writer.subresource, has_status)
    before = paths_of(old, scope) if old is not None else set()
    after = paths_of(new, scope)
    changed = {
        p for p in after if p not in before or (is_leaf(p) and value_at(old, p) != value_at(new, p))
    }
    result: list[ManagedEntry] = []
    mine: ManagedEntry | None = None
    for entry in entries:
        entry = copy.copy(entry)
        if scope_of(entry.subresource, has_status) != scope:
            result.append(entry)
            continue
        if entry.same_owner(writer):
            mine = entry
            mine.paths = (mine.paths | changed) & after
            if changed:
                mine.time = writer.time
        else:
            entry.paths = (entry.paths - changed) & after
        result.append(entry)
    if mine is None and changed:
        writer.paths = set(changed)
        result.append(writer)
    return [e for e in result if e.paths]


def _without_nulls(value: Any) -> Any:
    # In an apply configuration a null means "not specified", never "delete".
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge(live: Any, applied: Any, field_name: str | None) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict):
        merged = dict(live)
        for key, value in applied.items():
            merged[key] = _merge(live.get(key, MISSING), value, key)
        return merged
    if isinstance(applied, list) and isinstance(live, list):
        if is_set(field_name, applied) and is_set(field_name, live):
            return live + [item for item in applied if item not in live]
        key = list_key(field_name, live + applied)
        if key is not None:
            merged_list = list(live)
            for item in applied:
                index = find_item(merged_list, key, item[key])
                if index is None:
                    merged_list.append(copy.deepcopy(item))
                else:
                    merged_list[index] = _merge(merged_list[index], item, None)
            return merged_list
    return copy.deepcopy(applied)


def apply(
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    applier: ManagedEntry,
    *,
    force: bool,
    has_status: bool,
) -> tuple[Obj, list[ManagedEntry]]:
    """The object and entries after `applier` applied `config` onto `live` (None: absent).

    Raises ApplyConflict when the configuration changes a field another manager owns and
    `force` is not set.
    """
    scope = scope_of(applier.subresource, has_status)
    applied_part = _without_nulls(in_scope(config, scope))
    applied = paths_of(applied_part, "all")
    entries = [copy.copy(e) for e in read_entries(live)] if live is not None else []
    base: Obj = copy.deepcopy(dict(live)) if live is not None else {}

    conflicts = []
    for entry in entries:
        if entry.manager == applier.manager or scope_of(entry.subresource, has_status) != scope:
            continue
        for path in sorted(entry.paths & applied):
            if is_leaf(path) and value_at(applied_part, path) != value_at(base, path):
                conflicts.append(Conflict(entry.manager, entry.api_version, path))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    forced = {c.path for c in conflicts}

    mine = next((e for e in entries if e.same_owner(applier)), None)
    others: set[Path] = set()
    for entry in entries:
        if entry is not mine and scope_of(entry.subresource, has_status) == scope:
            others |= entry.paths - forced
    for path in sorted((mine.paths if mine else set()) - applied, key=len, reverse=True):
        if not any(owned[: len(path)] == path for owned in others):
            remove_at(base, path)

    merged: Obj = _merge(base, applied_part, None)
    after = paths_of(merged, scope)
    result = []
    for entry in entries:
        if scope_of(entry.subresource, has_status) != scope:
            result.append(entry)
        elif entry is mine:
            entry.paths = applied & after
            entry.time = applier.time
            entry.api_version = applier.api_version
            result.append(entry)
        else:
            entry.paths = (entry.paths - forced) & after
            result.append(entry)
    if mine is None:
        applier.paths = applied & after
        result.append(applier)
    return merged, [e for e in result if e.paths]
