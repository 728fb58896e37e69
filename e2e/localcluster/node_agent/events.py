"""Pod events as the kubelet reports them, rate-limited so a crash loop cannot flood the API."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from e2e.localcluster.node_agent.kube import Kube
from e2e.localcluster.node_agent.pod_lifecycle import Event

log = logging.getLogger(__name__)

_REPEAT_AFTER_S = 10.0


class EventRecorder:
    def __init__(self, kube: Kube, node_name: str) -> None:
        self.kube = kube
        self.node_name = node_name
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def record(self, pod: Mapping[str, Any], event: Event) -> None:
        meta = pod.get("metadata") or {}
        key = (str(meta.get("uid")), event.reason, event.message)
        now = time.monotonic()
        with self._lock:
            if now - self._last_sent.get(key, -_REPEAT_AFTER_S) < _REPEAT_AFTER_S:
                return
            self._last_sent[key] = now
            if len(self._last_sent) > 10_000:
                self._last_sent.clear()
        stamp = datetime.datetime.now(datetime.UTC)
        involved: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        }
        if event.container:
            involved["fieldPath"] = f"spec.containers{{{event.container}}}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta.get('name')}.",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": involved,
            "reason": event.reason,
            "message": event.message,
            "type": event.type,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
            "firstTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            self.kube.create_event(str(meta.get("namespace")), body)
        except Exception as exc:
            log.debug("could not record event %s: %s", event.reason, exc)
