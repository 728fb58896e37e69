"""The three patch formats a PATCH request may carry besides apply.

JSON merge patch follows RFC 7386 and JSON patch RFC 6902 exactly. Strategic merge patch is
merge patch except that the lists `schema` knows are merged item by item by their key (and
`finalizers` as a set); of its directives, `$patch: replace|delete`, `$retainKeys` and
`$deleteFromPrimitiveList/<field>` are honoured and `$setElementOrder/<field>` is ignored.
Every function leaves its inputs unchanged and returns a new document.
"""

from __future__ import annotations

import copy
from typing import Any

from .schema import find_item, is_set, list_key


class PatchError(ValueError):
    """A patch that cannot be applied to the document (a failed test, a missing path)."""


# --- RFC 7386 -------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 -------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _index(token: str, size: int, *, adding: bool) -> int:
    if token == "-" and adding:
        return size
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > size or (index == size and not adding):
        raise PatchError(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), adding=False)]
        else:
            raise PatchError(f"path /{'/'.join(tokens)} does not exist")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(last, len(parent), adding=False)]
    raise PatchError(f"path /{'/'.join(tokens)} does not exist")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(tokens[-1], len(parent), adding=True), value)
    else:
        raise PatchError(f"cannot add to a scalar at /{'/'.join(tokens[:-1])}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    _get(doc, tokens)
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[_index(tokens[-1], len(parent), adding=False)]
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise PatchError(f"not a JSON patch operation: {operation!r}")
        op = operation["op"]
        tokens = _pointer(operation.get("path"))
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"{op} needs a value")
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            doc = _add(doc, tokens, value)
        elif op == "remove":
            doc = _remove(doc, tokens)
        elif op == "replace":
            _get(doc, tokens)
            doc = _add(_remove(doc, tokens), tokens, value) if tokens else value
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from"))
            if op == "move" and tokens[: len(source)] == source and tokens != source:
                raise PatchError("cannot move a value into one of its own children")
            moved = copy.deepcopy(_get(doc, source))
            if op == "move":
                doc = _remove(doc, source)
            doc = _add(doc, tokens, moved)
        elif op == "test":
            if _get(doc, tokens) != value:
                raise PatchError(f"test failed at {operation.get('path')}")
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc


# --- strategic merge patch ------------------------------------------------------------------

_DELETE_FROM = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    return _merge(copy.deepcopy(target), patch, None)


def _clean(value: Any) -> Any:
    """A patch value as stored: without directives."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return value


def _merge(target: Any, patch: Any, field: str | None) -> Any:
    if isinstance(patch, list):
        return _merge_list(target if isinstance(target, list) else [], patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return _clean(patch)
    result = target if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            name = key[len(_DELETE_FROM) :]
            if isinstance(result.get(name), list):
                result[name] = [item for item in result[name] if item not in value]
        if key.startswith("$"):
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value, key)
    return result


def _merge_list(target: list[Any], patch: list[Any], field: str | None) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _clean(item) for item in patch if not isinstance(item, dict) or "$patch" not in item
        ]
    if is_set(field, patch) and is_set(field, target):
        return target + [item for item in patch if item not in target]
    items = [item for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    key = list_key(field, target + items)
    if key is None:
        return [_clean(item) for item in items]
    result = list(target)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            continue
        index = find_item(result, key, item[key])
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_merge({}, item, None))
        else:
            result[index] = _merge(result[index], item, None)
    return result
