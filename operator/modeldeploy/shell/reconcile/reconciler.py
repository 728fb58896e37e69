"""One idempotent, level-based reconcile of a ModelDeployment: read -> decide -> record -> act.

All deciding happens in `rollout.decide`; `read` gathers what it looks at, `record` writes the
decision as status before `act` carries it out (if the record loses to a newer write, nothing
is done on a stale view; if the operator dies after it, the next reconcile carries out the
same decision from the status), and the outcome says when time alone will next matter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from modeldeploy import rollout
from modeldeploy.analysis.providers import MetricsProvider
from modeldeploy.api import names
from modeldeploy.api.commands import read_commands
from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus, parse_status, parse_status_leniently
from modeldeploy.api.webhook_targets import STRICT, TargetRules
from modeldeploy.policy.approval import honoured
from modeldeploy.policy.govern import POLICY_VIOLATION, Governed, govern, served_spec
from modeldeploy.policy.govern import record as record_policy
from modeldeploy.policy.select import Policy, select_policy
from modeldeploy.rollout import preflight
from modeldeploy.rollout.wakeup import next_wakeup
from modeldeploy.shell import metrics
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.notify.sender import Notifier
from modeldeploy.shell.pod_http import DirectPodHttp, PodHttp
from modeldeploy.shell.preflight import run_preflight
from modeldeploy.shell.reconcile.act import Actor
from modeldeploy.shell.reconcile.claims import foreign_children
from modeldeploy.shell.reconcile.read import measure_checks, observe
from modeldeploy.shell.reconcile.record import (
    Recorder,
    api_message,
    policy_events,
    record_metrics,
)
from modeldeploy.shell.stores import ChildStore, ModelDeploymentStore, NamespaceStore, PolicyStore
from modeldeploy.traffic.base import Router, RouterError, RouteTarget
from modeldeploy.traffic.factory import route_target, router_for
from modeldeploy.validation import InvalidSpec, load_spec
from modeldeploy.workload import render
from modeldeploy.workload.ownership import CHILD_CONFLICT, conflict_message

log = logging.getLogger("modeldeploy.shell.reconcile")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _namespace_terminating(error: ApiException) -> bool:
    return error.status == 403 and "NamespaceTerminating" in str(error.body or "")


@dataclass(frozen=True)
class Outcome:
    """What the shell must do after a reconcile."""

    wake_at: datetime | None = None
    """When time alone next changes the decision."""
    again: bool = False
    """Reconcile again now: the status changed (decide until nothing changes), or the object
    changed while deciding (decide again from the fresh copy)."""


class Reconciler:
    """Reconciles one object at a time per object; the work queue sees to that."""

    def __init__(
        self,
        kube: Kube,
        provider: MetricsProvider | None,
        models: ModelDeploymentStore,
        children: ChildStore,
        policies: PolicyStore | None = None,
        namespace_labels: NamespaceStore | None = None,
        clock: Clock = _utcnow,
        min_window_s: float = 60.0,
        notifier: Notifier | None = None,
        operator_namespace: str = "default",
        pod_http: PodHttp | None = None,
        strict_status: bool = False,
        default_serving_image: str = DEFAULT_SERVING_IMAGE,
        cluster_domain: str = names.CLUSTER_DOMAIN,
        conflict_retry_s: float = 30.0,
        notification_targets: TargetRules = STRICT,
    ) -> None:
        self.kube = kube
        self.provider = provider
        self.models = models
        self.children = children
        self.policies = policies or PolicyStore()
        self.namespace_labels = namespace_labels or NamespaceStore()
        self.pod_http = pod_http or DirectPodHttp()
        self.clock = clock
        self.min_window_s = min_window_s
        self.actor = Actor(kube, children, self.pod_http)
        self.recorder = Recorder(
            kube, models, children, notifier, operator_namespace, cluster_domain
        )
        # Strict, a stored status field the models lack fails the reconcile; else it is left out
        # of what is read (and so removed at the next status write), and said once.
        self.strict_status = strict_status
        self._unknown_logged: set[str] = set()
        self.default_serving_image = default_serving_image
        # Another's object in a child's name sends no watch event the operator sees (it wears
        # none of its labels), so a held ModelDeployment looks again on its own.
        self.conflict_retry_s = conflict_retry_s
        self.notification_targets = notification_targets

    def forget(self, namespace: str, name: str) -> None:
        metrics.forget(namespace, name)

    def reconcile(self, namespace: str, name: str) -> Outcome:
        try:
            outcome = self._reconcile(namespace, name)
        except Exception as error:
            metrics.RECONCILES.labels(namespace, name, "error").inc()
            if isinstance(error, ApiException) and _namespace_terminating(error):
                log.info("namespace %s is being deleted; nothing to reconcile", namespace)
                return Outcome()
            raise
        metrics.RECONCILES.labels(namespace, name, "ok").inc()
        return outcome

    def _reconcile(self, namespace: str, name: str) -> Outcome:
        body = self.models.get(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return Outcome()
        meta = body["metadata"]
        generation = meta.get("generation")
        stored: dict[str, Any] = body.get("status") or {}
        status = self._read_status(namespace, name, stored)
        now = self.clock()
        raw_spec = body.get("spec") or {}
        labels = self.namespace_labels.labels(namespace)
        current_policy = select_policy(self.policies.all(), labels)
        try:
            own = load_spec(raw_spec, self.default_serving_image, self.notification_targets)
            revision = compute_revision(name, own)
            governed = govern(
                raw_spec,
                revision,
                status,
                current_policy,
                own,
                self.default_serving_image,
                self.notification_targets,
            )
        except InvalidSpec as error:
            return self._refuse(body, stored, status, "InvalidSpec", str(error), now)
        model_spec = governed.spec
        asked_for = revision
        if governed.blocked:
            served = served_spec(status)
            if served is None:
                message = "; ".join(governed.violations) + "; nothing is deployed"
                return self._refuse(
                    body, stored, status, POLICY_VIOLATION, message, now, governed, current_policy
                )
            # Whatever serves goes on serving, at its size, and nothing new starts.
            model_spec, revision = served

        # Read.
        observed = observe(self.kube, self.children, namespace, name, meta["uid"])
        annotations = meta.get("annotations") or {}
        commands, unapproved = honoured(
            read_commands(annotations, status), annotations, current_policy
        )
        if unapproved is not None:
            event = rollout.Event("Warning", "ApprovalRequired", unapproved)
            self.recorder.post(namespace, name, meta["uid"], event)
        router, target = self._router(namespace, name, model_spec)
        analysis = None
        if rollout.analysis_due(model_spec, status, now):
            analysis = measure_checks(
                self.provider, namespace, name, model_spec, status, now, self.min_window_s
            )
        found_preflight = None
        if preflight.due(status, revision, now):
            found_preflight = run_preflight(
                self.kube, self.pod_http, namespace, name, model_spec, revision, status.stable
            )
            log.info(
                "preflight %s: %s",
                found_preflight.verdict,
                found_preflight.message,
                extra={"namespace": namespace, "object": name},
            )
        route_weight: int | None = None
        hostnames: list[str] = []
        try:
            route_weight = router.read_weight(target)
            hostnames = router.hostnames(target)
        except RouterError as error:
            log.warning("route: %s", error, extra={"namespace": namespace, "object": name})

        # Decide.
        decision = rollout.decide(
            name,
            model_spec,
            revision,
            status,
            observed,
            now,
            generation,
            commands,
            analysis,
            route_weight,
            found_preflight,
        )
        foreign = foreign_children(self.kube, self.children, namespace, name, meta["uid"], decision)
        if foreign:
            held = self._refuse(
                body,
                stored,
                status,
                CHILD_CONFLICT,
                conflict_message(foreign),
                now,
                governed,
                current_policy,
            )
            return replace(held, wake_at=now + timedelta(seconds=self.conflict_retry_s))
        new_status = record_policy(decision.status, governed, rollout.iso(now), generation)
        # Blocked, the decision was taken for what serves; status still names what is asked.
        new_status.revision = asked_for
        self.recorder.address(new_status, namespace, name, hostnames)

        # Record, before acting.
        written = self.recorder.write_status(
            namespace, name, meta["resourceVersion"], stored, status, new_status
        )
        if written is None:
            return self._stale(namespace, name)
        # The status records the decision, so its Events go out now, whatever becomes of
        # carrying it out.
        events = [*decision.events, *policy_events(status, new_status)]
        for event in events:
            self.recorder.post(namespace, name, meta["uid"], event)
        self.recorder.notify(namespace, name, model_spec, current_policy, events, new_status, now)

        # Act.
        owner = render.Owner(name=name, namespace=namespace, uid=meta["uid"])
        try:
            self.actor.carry_out(owner, decision, observed, router, target, route_weight)
            # Blocked by a policy, what serves stays as it is, its autoscaler included.
            if not governed.blocked:
                self.actor.keep_autoscaler(owner, model_spec)
        except ApiException as error:
            if not _namespace_terminating(error):
                message = f"could not carry out the decision: {api_message(error)}"
                self.recorder.post(
                    namespace, name, meta["uid"], rollout.Event("Warning", "ApplyFailed", message)
                )
            raise
        self.actor.steer_shadow(namespace, name, model_spec, decision, status)
        record_metrics(namespace, name, status, decision, analysis, now)
        # A decision that changed the status may not be the last one at this instant (a step
        # that advanced onto a canary already at its size is reached at once): look again until
        # deciding changes nothing. The echo of the status write cannot be relied on for that:
        # the cache already holds the written version, so the echo is no news.
        return Outcome(wake_at=next_wakeup(model_spec, decision.status, now), again=bool(written))

    def _read_status(
        self, namespace: str, name: str, stored: dict[str, Any]
    ) -> ModelDeploymentStatus:
        """The stored status, parsed. Fields these models lack (another version of the operator
        wrote them) are left out and said once each, unless the status is read strictly."""
        if self.strict_status:
            return parse_status(stored)
        status, unknown = parse_status_leniently(stored)
        for path in unknown:
            if path not in self._unknown_logged:
                self._unknown_logged.add(path)
                log.warning(
                    "status.%s is unknown to this version of the operator: ignored, and removed "
                    "at the next status write",
                    path,
                    extra={"namespace": namespace, "object": name},
                )
        return status

    def _refuse(
        self,
        body: dict[str, Any],
        stored: dict[str, Any],
        status: ModelDeploymentStatus,
        reason: str,
        message: str,
        now: datetime,
        governed: Governed | None = None,
        policy: Policy | None = None,
    ) -> Outcome:
        """Records that the spec cannot be acted on; what is serving is left as it is."""
        meta = body["metadata"]
        namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
        new_status = rollout.refused_status(status, reason, message, generation, now)
        if governed is not None:
            new_status = record_policy(new_status, governed, rollout.iso(now), generation)
        written = self.recorder.write_status(
            namespace, name, meta["resourceVersion"], stored, status, new_status
        )
        if written is None:
            return self._stale(namespace, name)
        if status.message != message:
            event = rollout.Event("Warning", reason, message)
            self.recorder.post(namespace, name, meta["uid"], event)
            if governed is not None:
                self.recorder.notify(
                    namespace, name, governed.spec, policy, [event], new_status, now
                )
        return Outcome()

    def _stale(self, namespace: str, name: str) -> Outcome:
        """The status write lost to a newer version of the object: take that version in (the
        watch would bring it too, a moment later) and decide again."""
        log.info(
            "object changed while deciding; deciding again",
            extra={"namespace": namespace, "object": name},
        )
        fresh = self.kube.get_model_deployment(namespace, name)
        if fresh is None:
            self.models.delete(namespace, name)
            return Outcome()
        self.models.upsert(fresh)
        return Outcome(again=True)

    def _router(
        self, namespace: str, name: str, model_spec: ModelDeploymentSpec
    ) -> tuple[Router, RouteTarget]:
        traffic = model_spec.rollout.traffic if model_spec.rollout else None
        return router_for(traffic, self.kube), route_target(namespace, name, traffic)
