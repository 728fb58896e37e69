"""The only module that talks to the API server, apart from the watches.

Reads of ModelDeployments and their children come from the watch caches (`stores`), so what is
left here is writes, plus the few reads that have no cache (an HTTPRoute, a fresh copy of an
object after a write conflict). Objects travel as plain dicts (the API's own JSON) so that the
pure core never depends on the client library's generated classes. Writes use server-side
apply with one field manager: a field someone else edited is taken back, which is what keeps
children level-based; `applied` decides whether a write is needed at all.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modeldeploy.api import names
from modeldeploy.api.observed import Crash, crash_of
from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.shell import metrics
from modeldeploy.shell.pod_http import Pod

Manifest = dict[str, Any]
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for every request: an API server that accepts the connection but
never answers must not hold a worker thread, and with it every object queued behind it."""
# The children get_child reads by name, and the resource each is.
CHILD_RESOURCES = {
    "Deployment": "deployments",
    "Service": "services",
    "PodDisruptionBudget": "poddisruptionbudgets",
}


def load_config() -> None:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]


def _json(response: Any) -> Any:
    return json.loads(response.data)


def _ready(pod: Manifest) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _not_found(error: ApiException) -> bool:
    return bool(error.status == 404)


class Kube:
    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self.api_client = api_client or client.ApiClient()
        self.apps = client.AppsV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.autoscaling = client.AutoscalingV2Api(self.api_client)

    def get_namespace_labels(self, name: str) -> dict[str, str] | None:
        metrics.count_request("get", "namespaces")
        try:
            found: Any = self.core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        return dict(found.metadata.labels or {})

    # --- ModelDeployments ---------------------------------------------------------------

    def _get_custom(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Manifest | None:
        try:
            found = self.custom.get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        return cast(Manifest, found)

    def get_model_deployment(self, namespace: str, name: str) -> Manifest | None:
        metrics.count_request("get", "modeldeployments")
        return self._get_custom(GROUP, VERSION, namespace, PLURAL, name)

    def patch_status(
        self, namespace: str, name: str, status_patch: Manifest, resource_version: str
    ) -> Manifest | None:
        """Writes status only if the object is still at `resource_version`; returns the object
        as written, or None on conflict.

        The precondition makes a decision taken on a stale read (another reconcile, or another
        operator process, got there first) lose instead of overwriting a newer one.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": status_patch}
        metrics.count_request("patch", "modeldeployments/status")
        try:
            written = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                body,
                _content_type=MERGE,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return cast(Manifest, written)

    # --- children -----------------------------------------------------------------------

    def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply; returns the object as the API server now has it."""
        kind = manifest["kind"]
        meta = manifest["metadata"]
        options: dict[str, Any] = {
            "field_manager": names.FIELD_MANAGER,
            "force": True,
            "_content_type": APPLY,
            "_preload_content": False,
            "_request_timeout": REQUEST_TIMEOUT,
        }
        response: Any
        if kind == "Deployment":
            metrics.count_request("apply", "deployments")
            response = self.apps.patch_namespaced_deployment(
                meta["name"], meta["namespace"], manifest, **options
            )
        elif kind == "Service":
            metrics.count_request("apply", "services")
            response = self.core.patch_namespaced_service(
                meta["name"], meta["namespace"], manifest, **options
            )
        elif kind == "PodDisruptionBudget":
            metrics.count_request("apply", "poddisruptionbudgets")
            response = self.policy.patch_namespaced_pod_disruption_budget(
                meta["name"], meta["namespace"], manifest, **options
            )
        elif kind == "HorizontalPodAutoscaler":
            metrics.count_request("apply", "horizontalpodautoscalers")
            response = self.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
                meta["name"], meta["namespace"], manifest, **options
            )
        else:
            raise ValueError(f"cannot apply kind {kind}")
        return cast(Manifest, _json(response))

    def get_child(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """A Deployment, Service or PodDisruptionBudget of that name, whoever's it is; read
        only where the caches, which hold the operator's own, have none."""
        reads = {
            "Deployment": self.apps.read_namespaced_deployment,
            "Service": self.core.read_namespaced_service,
            "PodDisruptionBudget": self.policy.read_namespaced_pod_disruption_budget,
        }
        read = reads[kind]
        metrics.count_request("get", CHILD_RESOURCES[kind])
        try:
            response: Any = read(
                name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        return cast(Manifest, _json(response))

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        metrics.count_request("patch", "deployments/scale")
        try:
            self.apps.patch_namespaced_deployment_scale(
                name,
                namespace,
                {"spec": {"replicas": replicas}},
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if not _not_found(error):
                raise

    def delete_deployment(self, namespace: str, name: str) -> None:
        metrics.count_request("delete", "deployments")
        try:
            self.apps.delete_namespaced_deployment(
                name,
                namespace,
                propagation_policy="Background",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if not _not_found(error):
                raise

    def delete_autoscaler(self, namespace: str, name: str) -> None:
        metrics.count_request("delete", "horizontalpodautoscalers")
        try:
            self.autoscaling.delete_namespaced_horizontal_pod_autoscaler(
                name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if not _not_found(error):
                raise

    def create_event(self, event: Manifest) -> bool:
        metrics.count_request("create", "events")
        try:
            self.core.create_namespaced_event(
                event["metadata"]["namespace"],
                cast(Any, event),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            # An Event is an explanation, never a reason to fail the reconcile.
            log.warning("could not post event %s: %s", event["reason"], error.reason)
            return False
        return True

    def patch_event(self, namespace: str, name: str, patch: Manifest) -> bool:
        """Counts up an Event already posted; False when it is gone (expired) or refused."""
        metrics.count_request("patch", "events")
        try:
            self.core.patch_namespaced_event(
                name,
                namespace,
                cast(Any, patch),
                _content_type=MERGE,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if not _not_found(error):
                log.warning("could not count up event %s: %s", name, error.reason)
            return False
        return True

    def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing."""
        metrics.count_request("get", "secrets")
        try:
            secret: Any = self.core.read_namespaced_secret(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        encoded = (secret.data or {}).get(key)
        return base64.b64decode(encoded).decode().strip() if encoded is not None else None

    def secret_value_made_once(
        self, namespace: str, name: str, key: str, make: Callable[[], str]
    ) -> str:
        """One key of a Secret, which the first caller makes with `make()`; a replica that
        loses the race to make it reads the winner's."""
        found = self.get_secret_value(namespace, name, key)
        if found is not None:
            return found
        metrics.count_request("create", "secrets")
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {names.LABEL_MANAGED_BY: names.MANAGER},
            },
            "type": "Opaque",
            "data": {key: base64.b64encode(make().encode()).decode()},
        }
        try:
            self.core.create_namespaced_secret(
                namespace, cast(Any, body), _request_timeout=REQUEST_TIMEOUT, _preload_content=False
            )
        except ApiException as error:
            if error.status != 409:
                raise
        made = self.get_secret_value(namespace, name, key)
        if made is None:
            raise RuntimeError(f"Secret {namespace}/{name} has no key {key}")
        return made

    def get_config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a ConfigMap; None when the ConfigMap or the key is missing."""
        metrics.count_request("get", "configmaps")
        try:
            found: Any = self.core.read_namespaced_config_map(
                name, namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        value = (found.data or {}).get(key)
        return str(value) if value is not None else None

    # --- Pods (the preflight asks a revision's pods directly) --------------------------------

    def _list_pods(self, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        metrics.count_request("list", "pods")
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        found = _json(
            self.core.list_namespaced_pod(
                namespace,
                label_selector=selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        return cast(list[dict[str, Any]], found.get("items", []))

    def list_ready_pods(self, namespace: str, labels: dict[str, str]) -> list[Pod]:
        return sorted(
            (
                Pod(namespace, item["metadata"]["name"], item["status"]["podIP"])
                for item in self._list_pods(namespace, labels)
                if _ready(item) and item.get("status", {}).get("podIP")
            ),
            key=lambda pod: pod.name,
        )

    def get_pod(self, namespace: str, name: str, timeout_s: float) -> dict[str, Any] | None:
        metrics.count_request("get", "pods")
        try:
            return cast(
                dict[str, Any],
                _json(
                    self.core.read_namespaced_pod(
                        name, namespace, _preload_content=False, _request_timeout=timeout_s
                    )
                ),
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_crashes(self, namespace: str, labels: dict[str, str]) -> list[Crash]:
        crashes = (crash_of(item) for item in self._list_pods(namespace, labels))
        return sorted((c for c in crashes if c is not None), key=lambda crash: crash.pod)

    # --- Gateway API ----------------------------------------------------------------------

    def get_httproute(self, namespace: str, name: str) -> Manifest | None:
        metrics.count_request("get", "httproutes")
        return self._get_custom("gateway.networking.k8s.io", "v1", namespace, "httproutes", name)

    def replace_httproute_rules(
        self, namespace: str, name: str, rules: list[Manifest], resource_version: str
    ) -> None:
        # The resourceVersion makes this a compare-and-swap: a concurrent edit of the route
        # fails the write, and the next reconcile reads the new route.
        metrics.count_request("patch", "httproutes")
        self.custom.patch_namespaced_custom_object(
            "gateway.networking.k8s.io",
            "v1",
            namespace,
            "httproutes",
            name,
            {"metadata": {"resourceVersion": resource_version}, "spec": {"rules": rules}},
            _content_type=MERGE,
            _request_timeout=REQUEST_TIMEOUT,
        )
