"""The no-op apply rule: write a child only when what it should be differs from what it is.

Every rendered child carries a hash of its own manifest as an annotation. A child is in shape
when the watched object carries the same hash and the fields people change by hand (replicas,
the images and labels of the pod template, a Service's selector and ports, an autoscaler's
target, bounds and metrics) still hold what was
rendered. A reconcile of an object at rest then writes nothing at all, while a `kubectl scale`
or an edited selector is still taken back.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

HASH_ANNOTATION = "modeldeploy.io/applied-hash"

Manifest = dict[str, Any]
# The fields of an autoscaler's spec the operator renders, and takes back when edited.
AUTOSCALER_FIELDS = ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics")


def manifest_hash(manifest: Manifest) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def with_applied_hash(manifest: Manifest) -> Manifest:
    """The manifest with the hash of itself (without that annotation) in its annotations."""
    stamped = copy.deepcopy(manifest)
    annotations = stamped["metadata"].setdefault("annotations", {})
    annotations.pop(HASH_ANNOTATION, None)
    if not annotations:
        del stamped["metadata"]["annotations"]
    digest = manifest_hash(stamped)
    stamped["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return stamped


@dataclass(frozen=True)
class ChildShape:
    """The part of a child the rule compares; built alike from a manifest and a live object."""

    kind: str
    name: str
    applied_hash: str | None
    replicas: int | None = None
    template_labels: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()
    selector: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, int, str], ...] = ()
    scaling: str | None = None
    """An autoscaler's target, bounds and metrics, as a hash: the API server fills in other
    fields of its spec (behavior), which stay out of the comparison."""


def shape_of(obj: Manifest, kind: str | None = None) -> ChildShape:
    """The shape of a manifest or of a live object (whose kind a LIST leaves out)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    kind = kind or str(obj.get("kind", ""))
    applied = (meta.get("annotations") or {}).get(HASH_ANNOTATION)
    if kind == "Deployment":
        template = spec.get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        return ChildShape(
            kind=kind,
            name=meta.get("name", ""),
            applied_hash=applied,
            replicas=int(spec.get("replicas", 1)),
            template_labels=tuple(sorted(_labels(template).items())),
            images=tuple(str(c.get("image", "")) for c in containers),
        )
    if kind == "HorizontalPodAutoscaler":
        return ChildShape(
            kind=kind,
            name=meta.get("name", ""),
            applied_hash=applied,
            scaling=manifest_hash({key: spec.get(key) for key in AUTOSCALER_FIELDS}),
        )
    return ChildShape(
        kind=kind,
        name=meta.get("name", ""),
        applied_hash=applied,
        selector=tuple(sorted((spec.get("selector") or {}).items())),
        ports=tuple(
            (str(p.get("name", "")), int(p.get("port", 0)), str(p.get("targetPort", "")))
            for p in spec.get("ports") or []
        ),
    )


def _labels(obj: Manifest) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def needs_apply(stamped: Manifest, live: ChildShape | None) -> bool:
    """Whether `stamped` (a manifest from `with_applied_hash`) must be written over `live`."""
    return live is None or shape_of(stamped) != live
