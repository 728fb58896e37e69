"""Act: carry out a decision. Children are applied only when their rendered form differs from
what exists, weights are moved so that traffic leaves a revision before its pods do and
reaches it only after they exist, and the stable's pods are told whether to copy requests."""

from __future__ import annotations

import logging
from typing import Any

from modeldeploy import rollout
from modeldeploy.api import names
from modeldeploy.api.observed import Observed
from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import shadow
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.pod_http import PodHttp, PodUnreachable
from modeldeploy.shell.stores import AUTOSCALER, DEPLOYMENT, SERVICE, ChildStore
from modeldeploy.traffic.base import Router, RouterError, RouteTarget
from modeldeploy.workload import admin, render
from modeldeploy.workload.applied import needs_apply, with_applied_hash

log = logging.getLogger("modeldeploy.shell.reconcile")


class Actor:
    def __init__(
        self, kube: Kube, children: ChildStore, pod_http: PodHttp, admin_key: bytes | None = None
    ) -> None:
        self.kube = kube
        self.children = children
        self.pod_http = pod_http
        # What each revision's admin token is derived from; without it the pods open no admin
        # port, and a shadow phase copies nothing.
        self.admin_key = admin_key

    def carry_out(
        self,
        owner: render.Owner,
        decision: rollout.Decision,
        observed: Observed,
        router: Router,
        target: RouteTarget,
        route_weight: int | None,
    ) -> None:
        namespace, name = owner.namespace, owner.name
        lowering = route_weight is not None and decision.weight < route_weight
        if lowering:
            self.set_weight(router, target, decision.weight)
        for rev, replicas in decision.replicas.items():
            source = decision.sources.get(rev)
            if source is None:
                # No record of what shaped this revision: never re-render it from another
                # revision's spec, only set its size.
                self._scale_if_needed(namespace, names.deployment_name(name, rev), replicas)
                continue
            revision_spec = source.to_spec(replicas)
            applied = self._apply_if_needed(
                DEPLOYMENT,
                render.build_deployment(owner, revision_spec, rev, replicas, self.admin_key),
            )
            if applied is not None:
                # Rendered from what shapes the Deployment, so it changes only when that does.
                self.kube.apply(render.build_disruption_budget(applied, revision_spec, name, rev))
        services = render.build_services(
            owner, decision.stable_revision, decision.canary_revision, decision.client_revisions
        )
        for service in services:
            self._apply_if_needed(SERVICE, service)
        if not lowering:
            self.set_weight(router, target, decision.weight)
        for rev, deployment in observed.deployments.items():
            if rev not in decision.replicas:
                log.info("deleting %s: revision %s is no longer needed", deployment.name, rev)
                self.kube.delete_deployment(namespace, deployment.name)
                self.children.delete(DEPLOYMENT, namespace, deployment.name)

    def keep_autoscaler(self, owner: render.Owner, model_spec: ModelDeploymentSpec) -> None:
        """The autoscaler of the spec's autoscaling block, as rendered; none without one."""
        manifest = render.build_autoscaler(owner, model_spec)
        if manifest is not None:
            self._apply_if_needed(AUTOSCALER, manifest)
            return
        name = names.autoscaler_name(owner.name)
        if self.children.shape(AUTOSCALER, owner.namespace, name) is not None:
            log.info("deleting autoscaler %s: the spec has no autoscaling", name)
            self.kube.delete_autoscaler(owner.namespace, name)
            self.children.delete(AUTOSCALER, owner.namespace, name)

    def _apply_if_needed(self, kind: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The object as the API server has it after an apply, or None if none was needed."""
        stamped = with_applied_hash(manifest)
        meta = stamped["metadata"]
        if not needs_apply(stamped, self.children.shape(kind, meta["namespace"], meta["name"])):
            return None
        applied = self.kube.apply(stamped)
        self.children.upsert(kind, applied)
        return applied

    def _scale_if_needed(self, namespace: str, name: str, replicas: int) -> None:
        live = self.children.shape(DEPLOYMENT, namespace, name)
        if live is not None and live.replicas != replicas:
            self.kube.scale_deployment(namespace, name, replicas)

    def set_weight(self, router: Router, target: RouteTarget, weight: int) -> None:
        try:
            router.set_weight(target, weight)
        except RouterError as error:
            log.warning(
                "route: %s", error, extra={"namespace": target.namespace, "object": target.name}
            )

    def steer_shadow(
        self,
        namespace: str,
        name: str,
        model_spec: ModelDeploymentSpec,
        decision: rollout.Decision,
        before: ModelDeploymentStatus,
    ) -> None:
        """Tells the stable's pods to copy requests to the new revision while the shadow phase
        runs (renewed at every reconcile, lapsing on its own otherwise), and to stop after."""
        copying = decision.shadow
        if copying is None and not shadow.running(before.rollout):
            return
        stable = decision.stable_revision
        if stable is None:
            return
        body: dict[str, Any] | None = None
        if copying is not None:
            service = names.canary_service_name(name)
            body = {
                "target": f"http://{service}.{namespace}.svc:{names.SERVICE_PORT}",
                "percent": copying.percent,
                "candidateRevision": copying.candidate_revision,
                "ttlSeconds": copying.ttl_s,
            }
        if self.admin_key is None:
            log.warning(
                "shadow: no admin key, the stable's pods cannot be told to copy",
                extra={"namespace": namespace, "object": name},
            )
            return
        method = "POST" if body is not None else "DELETE"
        port = admin.admin_port(model_spec.serving.port)
        headers = {admin.TOKEN_HEADER: admin.token(self.admin_key, namespace, name, stable)}
        for pod in self.kube.list_ready_pods(namespace, names.selector_labels(name, stable)):
            try:
                code, answer = self.pod_http.request(
                    pod, port, method, "/admin/shadow", body, 5.0, headers
                )
            except PodUnreachable as error:
                log.warning("shadow: %s", error, extra={"namespace": namespace, "object": name})
                continue
            if code != 200:
                log.warning(
                    "shadow: %s answered HTTP %s: %s",
                    pod.name,
                    code,
                    answer,
                    extra={"namespace": namespace, "object": name},
                )
