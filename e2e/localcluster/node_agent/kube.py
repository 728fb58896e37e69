"""The agent's calls to the API server, on plain JSON dicts (the kubernetes client underneath)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

Obj = dict[str, Any]

# The client's methods are typed for its model classes; this module speaks plain dicts, which
# the client accepts and sends as they are.
_config: Any = config
_watch: Any = watch

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
_TIMEOUT = (5, 30)


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        _config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        # Every pod worker shares this client; the default pool would drop connections.
        configuration.connection_pool_maxsize = 64
        self.api_client = client.ApiClient(configuration)
        self.core: Any = client.CoreV1Api(self.api_client)
        self.coordination: Any = client.CoordinationV1Api(self.api_client)

    @staticmethod
    def _json(response: Any) -> Obj:
        data: Obj = json.loads(response.data)
        return data

    # Nodes and leases ---------------------------------------------------------------------

    def get_node(self, name: str) -> Obj | None:
        try:
            return self._json(
                self.core.read_node(name, _preload_content=False, _request_timeout=_TIMEOUT)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_node(self, body: Obj) -> Obj:
        return self._json(
            self.core.create_node(body, _preload_content=False, _request_timeout=_TIMEOUT)
        )

    def patch_node(self, name: str, body: Obj) -> Obj:
        return self._json(
            self.core.patch_node(
                name, body, _content_type=SMP, _preload_content=False, _request_timeout=_TIMEOUT
            )
        )

    def patch_node_status(self, name: str, body: Obj) -> Obj:
        return self._json(
            self.core.patch_node_status(
                name, body, _content_type=SMP, _preload_content=False, _request_timeout=_TIMEOUT
            )
        )

    def get_lease(self, namespace: str, name: str) -> Obj | None:
        try:
            return self._json(
                self.coordination.read_namespaced_lease(
                    name, namespace, _preload_content=False, _request_timeout=_TIMEOUT
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_lease(self, namespace: str, body: Obj) -> Obj:
        return self._json(
            self.coordination.create_namespaced_lease(
                namespace, body, _preload_content=False, _request_timeout=_TIMEOUT
            )
        )

    def patch_lease(self, namespace: str, name: str, body: Obj) -> Obj:
        return self._json(
            self.coordination.patch_namespaced_lease(
                name,
                namespace,
                body,
                _content_type=MERGE,
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
        )

    # Pods ---------------------------------------------------------------------------------

    def list_pods(self, node_name: str) -> tuple[list[Obj], str]:
        data = self._json(
            self.core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={node_name}",
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
        )
        return list(data.get("items") or []), str(data["metadata"]["resourceVersion"])

    def watch_pods(
        self, node_name: str, resource_version: str, timeout_s: int
    ) -> Iterator[tuple[str, Obj]]:
        """(type, pod) events; raises ApiException(410) when resource_version is too old."""
        watcher = _watch.Watch()
        stream = watcher.stream(
            self.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node_name}",
            resource_version=resource_version,
            timeout_seconds=timeout_s,
            allow_watch_bookmarks=True,
            deserialize=False,
            _request_timeout=(5, timeout_s + 10),
        )
        for event in stream:
            yield str(event["type"]), event["object"]

    def patch_pod_status(self, namespace: str, name: str, status: Obj) -> Obj:
        return self._json(
            self.core.patch_namespaced_pod_status(
                name,
                namespace,
                {"status": status},
                _content_type=SMP,
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
        )

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """Removes the pod object once its processes are gone, as the kubelet does."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                body=body,
                grace_period_seconds=0,
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
        except ApiException as exc:
            # Gone already, or a new pod of the same name: either way not ours to delete.
            if exc.status not in (404, 409):
                raise

    # Configuration sources ----------------------------------------------------------------

    def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            data = self._json(
                self.core.read_namespaced_config_map(
                    name, namespace, _preload_content=False, _request_timeout=_TIMEOUT
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        out = {str(k): str(v) for k, v in (data.get("data") or {}).items()}
        for key, value in (data.get("binaryData") or {}).items():
            out[str(key)] = base64.b64decode(value).decode(errors="replace")
        return out

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            data = self._json(
                self.core.read_namespaced_secret(
                    name, namespace, _preload_content=False, _request_timeout=_TIMEOUT
                )
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        out = {
            str(k): base64.b64decode(v).decode(errors="replace")
            for k, v in (data.get("data") or {}).items()
        }
        out.update({str(k): str(v) for k, v in (data.get("stringData") or {}).items()})
        return out

    # Events -------------------------------------------------------------------------------

    def create_event(self, namespace: str, body: Obj) -> None:
        self.core.create_namespaced_event(
            namespace, body, _preload_content=False, _request_timeout=_TIMEOUT
        )
