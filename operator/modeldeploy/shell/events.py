"""Kubernetes Events about a ModelDeployment, written through the core API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from modeldeploy.api.spec import GROUP, KIND, VERSION

COMPONENT = "modeldeploy-operator"


def build_event(
    namespace: str, name: str, uid: str, event_type: str, reason: str, message: str
) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": uid,
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
