"""Which pods a Service sent to, from a watch on its EndpointSlices as kube-proxy reads them.

    with ServiceEndpoints(cluster, namespace, "fraud") as endpoints:
        ...
    endpoints.ever_ready("fraud-3f2a9c1b0d-")  # [(when, pod), ...] of pods with that prefix

The watch starts before whatever the block does, so a pod that was a ready endpoint even for
an instant is in the record: the question "did clients ever reach this revision" is answered
by the data plane's own source, not by the status.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from kubernetes import client, watch

from e2e.fixtures import Cluster

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class ServiceEndpoints:
    def __init__(self, cluster: Cluster, namespace: str, service: str) -> None:
        self._api = client.DiscoveryV1Api(cluster.api_client)
        self.namespace = namespace
        self.service = service
        self._seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watching = threading.Event()
        self._thread = threading.Thread(target=self._run, name="endpoints-watch", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> ServiceEndpoints:
        self._thread.start()
        if not self._watching.wait(30):
            raise RuntimeError(f"could not watch the EndpointSlices of {self.service}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def ever_ready(self, pod_prefix: str) -> list[tuple[float, str]]:
        """Every (time, pod) at which a pod named with `pod_prefix` was a ready endpoint."""
        with self._lock:
            return [(at, pod) for at, pod in self._seen if pod.startswith(pod_prefix)]

    def _record(self, endpoint_slice: Any) -> None:
        now = time.time()
        for endpoint in endpoint_slice.endpoints or []:
            ready = endpoint.conditions is None or endpoint.conditions.ready is not False
            pod = endpoint.target_ref.name if endpoint.target_ref else None
            if ready and pod:
                with self._lock:
                    self._seen.append((now, pod))

    def _run(self) -> None:
        selector = f"{SERVICE_NAME_LABEL}={self.service}"
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    listed = self._api.list_namespaced_endpoint_slice(
                        self.namespace, label_selector=selector
                    )
                    for item in listed.items:
                        self._record(item)
                    resource_version = listed.metadata.resource_version if listed.metadata else ""
                    self._watching.set()
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self._api.list_namespaced_endpoint_slice,
                    self.namespace,
                    label_selector=selector,
                    resource_version=resource_version,
                    timeout_seconds=5,
                )
                for event in stream:
                    item = event["object"]
                    resource_version = item.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._record(item)
                    if self._stop.is_set():
                        break
            except client.exceptions.ApiException as error:
                self.errors.append(str(error.reason))
                if error.status == 410:
                    # The watch fell behind: list again, which records the state as it is now.
                    resource_version = None
                else:
                    self._stop.wait(0.5)
