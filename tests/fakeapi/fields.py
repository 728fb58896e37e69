"""Field paths: which parts of an object a field manager can own, in `fieldsV1` notation.

A path is a tuple of fieldsV1 keys: `f:<field>` steps into a map, `k:<json>` selects an item
of a keyed list by its key, `v:<json>` is a member of a set list. The paths of an object are
its leaves (scalars, atomic lists, empty maps), its keyed list items themselves (so that an
item someone applied can be removed when they stop applying it) and its set members.

Of `metadata`, only labels, annotations, finalizers and owner references are owned, as on the
real server; `apiVersion` and `kind` are never owned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .schema import is_set, list_key

Path = tuple[str, ...]
# Which part of an object a write may touch: all of it, all but status (the main resource of
# a type with a status subresource), or only status.
Scope = Literal["all", "main", "status"]

OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _encode_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def item_element(key: str, item: Mapping[str, Any]) -> str:
    return "k:" + _encode_value({key: item[key]})


def in_scope(obj: Mapping[str, Any], scope: Scope) -> dict[str, Any]:
    """The ownable part of an object: what a write in `scope` may set."""
    picked: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            if scope == "status" or not isinstance(value, Mapping):
                continue
            meta = {k: value[k] for k in OWNED_METADATA if value.get(k) is not None}
            if meta:
                picked["metadata"] = meta
        elif (key == "status") == (scope == "status") or scope == "all":
            picked[key] = value
    return picked


def paths_of(obj: Mapping[str, Any], scope: Scope) -> set[Path]:
    found: set[Path] = set()
    _collect(in_scope(obj, scope), (), None, found)
    return found


def _collect(value: Any, prefix: Path, field: str | None, found: set[Path]) -> None:
    if isinstance(value, Mapping):
        if not value and prefix:
            found.add(prefix)
        for key, child in value.items():
            _collect(child, (*prefix, f"f:{key}"), key, found)
        return
    if isinstance(value, list) and value:
        if is_set(field, value):
            found.update((*prefix, "v:" + _encode_value(item)) for item in value)
            return
        key = list_key(field, value)
        if key is not None:
            for item in value:
                item_path = (*prefix, item_element(key, item))
                found.add(item_path)
                _collect(item, item_path, None, found)
            return
    found.add(prefix)


def is_leaf(path: Path) -> bool:
    """Whether the path names a value (not a list item, whose value is its fields)."""
    return not path[-1].startswith("k:")


def _step(node: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return node.get(rest, MISSING) if isinstance(node, Mapping) else MISSING
    if not isinstance(node, list):
        return MISSING
    wanted = json.loads(rest)
    if kind == "v":
        return wanted if wanted in node else MISSING
    for item in node:
        if isinstance(item, Mapping) and all(item.get(k) == v for k, v in wanted.items()):
            return item
    return MISSING


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        node = _step(node, element)
        if node is MISSING:
            break
    return node


def remove_at(obj: Any, path: Path) -> None:
    """Removes what the path names from `obj` in place, then prunes the maps and lists this
    left empty below the top level."""
    chain = [obj]
    for element in path[:-1]:
        chain.append(_step(chain[-1], element))
        if chain[-1] is MISSING:
            return
    _remove_child(chain[-1], path[-1])
    for depth in range(len(path) - 1, 1, -1):
        if chain[depth] in ({}, []):
            _remove_child(chain[depth - 1], path[depth - 1])


def _remove_child(node: Any, element: str) -> None:
    kind, _, rest = element.partition(":")
    if kind == "f" and isinstance(node, dict):
        node.pop(rest, None)
        return
    if not isinstance(node, list):
        return
    target = _step(node, element)
    if target is not MISSING:
        node.remove(target)


def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """A set of paths as a fieldsV1 tree; a path that also has owned children gets "."."""
    root: dict[str, Any] = {}
    owned: list[dict[str, Any]] = []
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
        owned.append(node)
    for node in owned:
        if node and "." not in node:
            node["."] = {}
    return root


def decode(tree: Mapping[str, Any]) -> set[Path]:
    found: set[Path] = set()
    _decode(tree, (), found)
    return found


def _decode(tree: Mapping[str, Any], prefix: Path, found: set[Path]) -> None:
    if not tree and prefix:
        found.add(prefix)
    for element, child in tree.items():
        if element == ".":
            found.add(prefix)
        elif isinstance(child, Mapping):
            _decode(child, (*prefix, element), found)


def dotted(path: Path) -> str:
    """A path as apply conflicts name it: `.spec.replicas`, `.spec.containers[name="app"]`."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            text += (
                "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
            )
        else:
            text += f"[={rest}]"
    return text
