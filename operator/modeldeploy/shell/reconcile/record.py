"""Record: a decision as status (written before it is carried out), Events, notifications,
JSON logs and metrics, so that every decision explains itself."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from modeldeploy import rollout
from modeldeploy.api import names
from modeldeploy.api.conditions import find_condition
from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.policy.govern import POLICY_VIOLATION
from modeldeploy.policy.select import Policy
from modeldeploy.runtime import mergepatch
from modeldeploy.shell import metrics
from modeldeploy.shell.events import EventRecorder
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.notify.message import build_message, recipients, targets_for
from modeldeploy.shell.notify.sender import Notifier
from modeldeploy.shell.stores import SERVICE, ChildStore, ModelDeploymentStore

log = logging.getLogger("modeldeploy.shell.reconcile")


def api_message(error: ApiException) -> str:
    """The API server's own words for a refused request."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{error.status} {error.reason}")


def policy_events(
    before: ModelDeploymentStatus, after: ModelDeploymentStatus
) -> list[rollout.Event]:
    """A Warning when the rules a ModelDeployment breaks change, and a Normal Event when it
    complies again."""
    old = find_condition(before.conditions, POLICY_VIOLATION)
    new = find_condition(after.conditions, POLICY_VIOLATION)
    if new is None:
        return []
    if new.status == "True" and (old is None or new.message != old.message):
        return [rollout.Event("Warning", POLICY_VIOLATION, new.message)]
    if old is not None and old.status == "True" and new.status == "False":
        return [rollout.Event("Normal", "PolicyCompliant", new.message)]
    return []


class Recorder:
    def __init__(
        self,
        kube: Kube,
        models: ModelDeploymentStore,
        children: ChildStore,
        notifier: Notifier | None,
        operator_namespace: str,
        cluster_domain: str = names.CLUSTER_DOMAIN,
    ) -> None:
        self.kube = kube
        self.models = models
        self.children = children
        self.notifier = notifier
        self.operator_namespace = operator_namespace
        self.cluster_domain = cluster_domain
        self.events = EventRecorder(kube)

    def address(
        self, status: ModelDeploymentStatus, namespace: str, name: str, hostnames: list[str]
    ) -> None:
        """Sets where clients reach the model: the client Service's address once the Service
        exists (it is made in the act step, after the first record), and the route's
        hostnames."""
        service = self.children.shape(SERVICE, namespace, names.service_name(name))
        exists = service is not None
        status.url = names.client_url(name, namespace, self.cluster_domain) if exists else None
        status.route_hostnames = list(hostnames) or None

    def write_status(
        self,
        namespace: str,
        name: str,
        resource_version: str,
        stored: dict[str, Any],
        before: ModelDeploymentStatus,
        desired: ModelDeploymentStatus,
    ) -> dict[str, Any] | None:
        """The status patch written ({} when nothing differed), or None when the write lost to
        a newer version of the object. `stored` is the status as read, `before` what was made
        of it.

        An RFC 7386 merge patch of the whole status, nested objects included, so that what the
        desired status no longer carries (an old rollout's preflight, a field this version of
        the operator does not know) is removed.
        """
        patch: dict[str, Any] = mergepatch.diff(stored, desired.wire())
        if not patch:
            return patch
        written = self.kube.patch_status(namespace, name, patch, resource_version)
        if written is None:
            return None
        self.models.upsert(written)
        if before.phase != desired.phase:
            log.info(
                "phase %s -> %s: %s",
                before.phase,
                desired.phase,
                desired.message,
                extra={"namespace": namespace, "object": name, "phase": desired.phase},
            )
        return patch

    def post(self, namespace: str, name: str, uid: str, event: rollout.Event) -> None:
        log.info(
            "%s: %s",
            event.reason,
            event.message,
            extra={"namespace": namespace, "object": name, "reason": event.reason},
        )
        metrics.EVENTS.labels(namespace, name, event.reason).inc()
        done = self.events.record(namespace, name, uid, event.type, event.reason, event.message)
        if done == "dropped":
            log.info(
                "event %s not posted: too many for this object of late",
                event.reason,
                extra={"namespace": namespace, "object": name, "reason": event.reason},
            )

    def notify(
        self,
        namespace: str,
        name: str,
        model_spec: ModelDeploymentSpec,
        policy: Policy | None,
        events: list[rollout.Event],
        status: ModelDeploymentStatus,
        now: datetime,
    ) -> None:
        if self.notifier is None:
            return
        policy_hooks = policy.spec.notifications if policy and policy.spec else None
        targets = targets_for(
            namespace,
            name,
            model_spec.notifications,
            policy.name if policy else None,
            policy_hooks,
            self.operator_namespace,
        )
        if not targets:
            return
        for event in events:
            told = recipients(targets, event.reason)
            message = build_message(
                event.reason, event.message, namespace, name, status, rollout.iso(now)
            )
            if message is not None and told:
                self.notifier.submit(told, message)


def record_metrics(
    namespace: str,
    name: str,
    before: ModelDeploymentStatus,
    decision: rollout.Decision,
    analysis: rollout.Analysis | None,
    now: datetime,
) -> None:
    status = decision.status
    if status.phase is not None:
        metrics.record_phase(namespace, name, status.phase)
    metrics.READY_REPLICAS.labels(namespace, name).set(status.ready_replicas or 0)
    metrics.CANARY_WEIGHT.labels(namespace, name).set(decision.weight)
    metrics.EFFECTIVE_WEIGHT.labels(namespace, name).set(status.effective_weight or 0)
    tracks = {"stable": decision.stable_revision, "canary": decision.canary_revision}
    metrics.record_revisions(namespace, name, {k: v for k, v in tracks.items() if v})
    state = status.rollout
    step = state.step if state is not None and state.step is not None else -1
    metrics.ROLLOUT_STEP.labels(namespace, name).set(step)
    for event in decision.events:
        if event.reason == "RolledBack":
            metrics.ROLLBACKS.labels(namespace, name).inc()
        elif event.reason == "Promoted":
            metrics.PROMOTIONS.labels(namespace, name).inc()
        else:
            continue
        ended = before.rollout
        if ended is not None:
            took = (now - rollout.parse_stamp(ended.started_at, now.tzinfo)).total_seconds()
            metrics.ROLLOUT_SECONDS.labels(event.reason).observe(max(took, 0.0))
    for result in analysis.results if analysis else []:
        metrics.CHECK_RESULTS.labels(namespace, name, result.name, result.verdict).inc()
        if result.value is not None:
            metrics.CHECK_VALUE.labels(namespace, name, result.name).set(result.value)
