"""Parts of a pod spec that local processes cannot honour; the agent accepts and ignores them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_WHY = {
    "securityContext": "processes run as the agent's user with its file system view",
    "resources": "no cgroups: requests and limits are not enforced",
    "volumes": "volumes are not mounted; processes see the host's file system",
    "ephemeralContainers": "ephemeral containers are not run",
}


def unsupported_features(pod: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(feature, why it is ignored) for what this pod asks and the agent cannot do."""
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    found = []
    if spec.get("securityContext") or any(c.get("securityContext") for c in containers):
        found.append("securityContext")
    if any(c.get("resources") for c in containers):
        found.append("resources")
    if spec.get("volumes") or any(c.get("volumeMounts") for c in containers):
        found.append("volumes")
    if spec.get("ephemeralContainers"):
        found.append("ephemeralContainers")
    return [(feature, _WHY[feature]) for feature in found]
