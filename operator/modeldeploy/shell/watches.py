"""What the operator watches, besides ModelDeployments: its own Deployments, Services and
HorizontalPodAutoscalers,
ClusterRolloutPolicies and Namespaces. Each watch feeds a store (`stores`) and names the
ModelDeployments a change concerns, which the controller queues for a reconcile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubernetes import client

from modeldeploy.api import names
from modeldeploy.api.policy import POLICY_PLURAL
from modeldeploy.api.spec import GROUP, VERSION
from modeldeploy.runtime.listwatch import Informer
from modeldeploy.shell.stores import (
    AUTOSCALER,
    DEPLOYMENT,
    Body,
    ChildStore,
    Key,
    ModelDeploymentStore,
    NamespaceStore,
    PolicyStore,
)

OWNED_SELECTOR = f"{names.LABEL_MANAGED_BY}={names.MANAGER},{names.LABEL_NAME}"


class ChildSink:
    """Deployments or Services the operator owns; a change concerns their owner."""

    def __init__(self, store: ChildStore, kind: str) -> None:
        self.store = store
        self.kind = kind

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self.store.replace(self.kind, bodies, namespace)

    def upsert(self, body: Body) -> Iterable[Key]:
        owner = self.store.upsert(self.kind, body)
        return [owner] if owner is not None else []

    def delete(self, body: Body) -> Iterable[Key]:
        meta = body["metadata"]
        owner = self.store.delete(self.kind, meta["namespace"], meta["name"])
        return [owner] if owner is not None else []


class PolicySink:
    """ClusterRolloutPolicies; a change may concern any ModelDeployment (policies change
    rarely, and a reconcile that finds nothing to do writes nothing)."""

    def __init__(self, store: PolicyStore, models: ModelDeploymentStore) -> None:
        self.store = store
        self.models = models

    def _all_if(self, changed: bool) -> Iterable[Key]:
        return self.models.keys() if changed else []

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self._all_if(self.store.replace(bodies))

    def upsert(self, body: Body) -> Iterable[Key]:
        return self._all_if(self.store.upsert(body))

    def delete(self, body: Body) -> Iterable[Key]:
        return self._all_if(self.store.delete(body["metadata"]["name"]))


class NamespaceSink:
    """Namespaces; a change of labels concerns the ModelDeployments inside."""

    def __init__(self, store: NamespaceStore, models: ModelDeploymentStore) -> None:
        self.store = store
        self.models = models

    def _inside(self, changed: Iterable[str]) -> Iterable[Key]:
        names = set(changed)
        return [key for key in self.models.keys() if key[0] in names] if names else []  # noqa: SIM118

    def replace(self, bodies: list[Body], namespace: str | None) -> Iterable[Key]:
        return self._inside(self.store.replace(bodies))

    def upsert(self, body: Body) -> Iterable[Key]:
        changed = self.store.upsert(body)
        return self._inside([changed] if changed else [])

    def delete(self, body: Body) -> Iterable[Key]:
        gone = self.store.delete(body["metadata"]["name"])
        return self._inside([gone] if gone else [])


def child_informer(
    api_client: client.ApiClient,
    kind: str,
    store: ChildStore,
    on_change: Callable[[Key], None],
    namespaces: list[str] | None = None,
    watch_timeout_s: int = 300,
) -> Informer[Key]:
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    autoscaling = client.AutoscalingV2Api(api_client)
    listing: tuple[Callable[..., Any], Callable[..., Any]]
    if kind == DEPLOYMENT:
        listing = (apps.list_deployment_for_all_namespaces, apps.list_namespaced_deployment)
    elif kind == AUTOSCALER:
        listing = (
            autoscaling.list_horizontal_pod_autoscaler_for_all_namespaces,
            autoscaling.list_namespaced_horizontal_pod_autoscaler,
        )
    else:
        listing = (core.list_service_for_all_namespaces, core.list_namespaced_service)
    return Informer(
        kind,
        ChildSink(store, kind),
        on_change,
        *listing,
        namespaces=namespaces,
        label_selector=OWNED_SELECTOR,
        watch_timeout_s=watch_timeout_s,
    )


def policy_informer(
    api_client: client.ApiClient,
    store: PolicyStore,
    models: ModelDeploymentStore,
    on_change: Callable[[Key], None],
    watch_timeout_s: int = 300,
) -> Informer[Key]:
    custom = client.CustomObjectsApi(api_client)

    def list_policies(**kwargs: Any) -> Any:
        return custom.list_cluster_custom_object(GROUP, VERSION, POLICY_PLURAL, **kwargs)

    return Informer(
        "ClusterRolloutPolicy",
        PolicySink(store, models),
        on_change,
        list_policies,
        watch_timeout_s=watch_timeout_s,
    )


def namespace_informer(
    api_client: client.ApiClient,
    store: NamespaceStore,
    models: ModelDeploymentStore,
    on_change: Callable[[Key], None],
    watch_timeout_s: int = 300,
) -> Informer[Key]:
    return Informer(
        "Namespace",
        NamespaceSink(store, models),
        on_change,
        client.CoreV1Api(api_client).list_namespace,
        watch_timeout_s=watch_timeout_s,
    )
