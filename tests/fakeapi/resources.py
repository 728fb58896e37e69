"""The resource types the server serves, and how a URL or a test names one.

Objects are kept per group and plural, not per version: a type registered in two versions of
a group shows the same objects in both, with only `apiVersion` rewritten, which is what a
CustomResourceDefinition with `conversion: None` does. There is no other conversion.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

Storage = tuple[str, str]  # (group, plural)

MAIN_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has a status subresource
    scale: bool = False  # has a scale subresource mapped to spec.replicas / status.replicas
    custom: bool = False  # served as a CustomResourceDefinition's objects are
    short_names: tuple[str, ...] = ()
    # Field selector paths beyond metadata.name and metadata.namespace.
    field_labels: tuple[str, ...] = ()
    # Names must be DNS-1123 labels (no dots) rather than subdomains.
    label_names: bool = False
    singular: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The group-qualified plural that error messages name ("deployments.apps")."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage(self) -> Storage:
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def subresources(self) -> tuple[str, ...]:
        return (("status",) if self.status else ()) + (("scale",) if self.scale else ())

    @property
    def strategic_merge(self) -> bool:
        # Strategic merge patch needs Go struct tags; custom resources never accept it.
        return not self.custom

    @property
    def unconditional_update(self) -> bool:
        # A PUT without metadata.resourceVersion overwrites a built-in object but is refused
        # for a custom resource.
        return not self.custom


def custom_resource(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    status: bool = True,
    short_names: tuple[str, ...] = (),
) -> ResourceType:
    """A resource type served as the API server serves a CustomResourceDefinition's."""
    return ResourceType(
        group,
        version,
        plural,
        kind,
        namespaced=namespaced,
        status=status,
        custom=True,
        short_names=short_names,
    )


def _core(plural: str, kind: str, **options: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, **options)


POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

NAMESPACES = _core(
    "namespaces",
    "Namespace",
    namespaced=False,
    status=True,
    short_names=("ns",),
    field_labels=("status.phase",),
    label_names=True,
)
CUSTOM_RESOURCE_DEFINITIONS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    status=True,
    short_names=("crd", "crds"),
)

BUILTINS: tuple[ResourceType, ...] = (
    NAMESPACES,
    _core("pods", "Pod", status=True, short_names=("po",), field_labels=POD_FIELDS),
    _core("services", "Service", status=True, short_names=("svc",), label_names=True),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret", field_labels=("type",)),
    _core("events", "Event", short_names=("ev",), field_labels=EVENT_FIELDS),
    ResourceType("apps", "v1", "deployments", "Deployment", status=True, scale=True),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", status=True),
    ResourceType(
        "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", status=True
    ),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ResourceType("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", status=True),
    CUSTOM_RESOURCE_DEFINITIONS,
)


def from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    found = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        found.append(
            ResourceType(
                spec.get("group", ""),
                version["name"],
                names.get("plural", ""),
                names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                status="status" in subresources,
                scale="scale" in subresources,
                custom=True,
                short_names=tuple(names.get("shortNames") or ()),
                singular=names.get("singular", ""),
            )
        )
    return found


class Registry:
    """The served resource types, in registration order (discovery lists them so)."""

    def __init__(self, resources: tuple[ResourceType, ...] = BUILTINS) -> None:
        self._lock = threading.Lock()
        # Replaced, never mutated, so that readers need no lock.
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in resources:
            self.register(rtype)

    def register(self, rtype: ResourceType) -> None:
        with self._lock:
            types = dict(self._types)
            types[(rtype.group, rtype.version, rtype.plural)] = rtype
            self._types = types

    def unregister(self, storage: Storage) -> list[ResourceType]:
        with self._lock:
            gone = [t for t in self._types.values() if t.storage == storage]
            self._types = {k: t for k, t in self._types.items() if t.storage != storage}
        return gone

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def of_storage(self, storage: Storage) -> ResourceType | None:
        """The first registered version of a storage (the one its objects are shown in)."""
        return next((t for t in self._types.values() if t.storage == storage), None)

    def groups(self) -> dict[str, list[str]]:
        """Group name to its versions, first registered first ("" is the core group)."""
        found: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = found.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return found

    def in_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types.values() if (t.group, t.version) == (group, version)]

    def find(self, name: str | ResourceType) -> ResourceType:
        """A type by plural ("pods"), group-qualified plural ("deployments.apps"), kind or
        short name, as `kubectl get` takes them; the core group wins a tie, then the first
        registered."""
        if isinstance(name, ResourceType):
            return name
        lowered = name.lower()
        for rtype in self._types.values():
            if lowered in (rtype.qualified, f"{rtype.plural}.{rtype.version}.{rtype.group}"):
                return rtype
        matches = [
            t
            for t in self._types.values()
            if lowered in (t.plural, t.singular_name, t.kind.lower(), *t.short_names)
        ]
        matches.sort(key=lambda t: t.group != "")
        if not matches:
            raise KeyError(f"no resource type {name!r} is registered")
        return matches[0]
