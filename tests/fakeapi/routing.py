"""From a URL path to what it names: a discovery document or a resource target."""

from __future__ import annotations

from dataclasses import dataclass

from . import errors
from .resources import Registry, ResourceType


@dataclass(frozen=True)
class Target:
    rtype: ResourceType
    namespace: str | None  # None: cluster-scoped, or a namespaced type across all namespaces
    name: str | None  # None: the collection
    subresource: str = ""


@dataclass(frozen=True)
class Discovery:
    group: str | None  # None: the /api or /apis root
    version: str | None
    legacy: bool  # under /api rather than /apis


def route(registry: Registry, path: str) -> Target | Discovery:
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in ("api", "apis"):
        raise errors.unknown_path()
    if parts[0] == "api":
        if len(parts) == 1:
            return Discovery(None, None, legacy=True)
        if parts[1] != "v1":
            raise errors.unknown_path()
        group, version, rest = "", "v1", parts[2:]
    else:
        if len(parts) <= 2:
            return Discovery(parts[1] if len(parts) == 2 else None, None, legacy=False)
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return Discovery(group, version, legacy=parts[0] == "api")

    namespace: str | None = None
    # /api/v1/namespaces/<name>/status and /finalize belong to the Namespace itself.
    own_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and len(rest) >= 3 and not own_subresource:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise errors.unknown_path()
    rtype = registry.lookup(group, version, rest[0])
    if rtype is None:
        raise errors.unknown_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in rtype.subresources:
        raise errors.unknown_path()
    if namespace is not None and not rtype.namespaced:
        raise errors.unknown_path()
    if rtype.namespaced and name is not None and namespace is None:
        # A namespaced object is only addressable inside its namespace.
        raise errors.unknown_path()
    return Target(rtype, namespace, name, subresource)
