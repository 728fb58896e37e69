"""Lists: selection, the order etcd returns keys in, pages and continue tokens."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .resources import ResourceType
from .selectors import FieldSelector, LabelSelector
from .watch import view

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass(frozen=True)
class ListOptions:
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)
    limit: int = 0
    token: str = ""
    resource_version: str = ""
    match: str = ""  # resourceVersionMatch


def key_of(obj: Mapping[str, Any]) -> ObjKey:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def order(key: ObjKey) -> str:
    # The order etcd keeps keys in: by namespace, then name.
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


def encode_continue(resource_version: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """The resourceVersion a continue token lists at, and the key it starts from."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(raw["rv"]), str(raw["start"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise errors.bad_request(f"continue key is not valid: {error}") from error


def page(
    rtype: ResourceType,
    objects: Mapping[ObjKey, Obj],
    namespace: str | None,
    options: ListOptions,
    *,
    at: int,
    start: str = "",
) -> Obj:
    """The list body for the objects as of resourceVersion `at`, from key `start` on."""
    selected = [
        (key, obj)
        for key, obj in sorted(objects.items(), key=lambda item: order(item[0]))
        if (namespace is None or key[0] == namespace)
        and order(key) >= start
        and options.labels.matches(obj)
        and options.fields.matches(obj)
    ]
    metadata: Obj = {"resourceVersion": str(at)}
    if 0 < options.limit < len(selected):
        last = selected[options.limit - 1][0]
        metadata["continue"] = encode_continue(at, order(last) + "\x00")
        if not options.labels and not options.fields:
            # The real server cannot count what a selector would leave, so says nothing.
            metadata["remainingItemCount"] = len(selected) - options.limit
        selected = selected[: options.limit]
    return {
        "kind": rtype.list_kind,
        "apiVersion": rtype.api_version,
        "metadata": metadata,
        # Items of a built-in type's list carry no kind or apiVersion; a custom type's do.
        "items": [view(rtype, obj, typed=rtype.custom) for _, obj in selected],
    }
