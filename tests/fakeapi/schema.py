"""What the server knows of the shape of objects, in place of their OpenAPI schemas.

Strategic merge patch and server-side apply both need to know which lists are merged item by
item and by which key. The real server reads that from Go struct tags and OpenAPI extensions;
this server uses a fixed table keyed by the list's field name, which covers the lists an
operator writes (containers, their ports and env, volumes, conditions, owner references).
A list not in the table, or whose items lack the key, is atomic: written as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Field name -> candidate merge keys, the first one every item has wins. Container ports are
# keyed by containerPort and Service ports by port, hence two candidates for "ports".
KEYED_LISTS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ports": ("containerPort", "port"),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
}

# Lists of scalars merged as sets.
SET_LISTS = frozenset({"finalizers"})


def list_key(field: str | None, items: Sequence[Any]) -> str | None:
    """The key identifying the items of the list under `field`, or None if it is atomic."""
    candidates = KEYED_LISTS.get(field or "")
    if not candidates or not all(isinstance(item, dict) for item in items):
        return None
    for key in candidates:
        if all(key in item for item in items):
            return key
    return None


def is_set(field: str | None, items: Sequence[Any]) -> bool:
    return field in SET_LISTS and all(not isinstance(item, dict | list) for item in items)


def find_item(items: Sequence[Any], key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get(key) == value:
            return index
    return None
