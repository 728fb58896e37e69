"""One idempotent, level-based reconcile of a ModelDeployment: read, decide, apply.

All deciding happens in `rollout.decide`; this module reads the world from the watch caches,
renders what the decision asks for, writes only what differs from what exists, records the
decision as status, Events, logs and metrics, and says when time alone will next matter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from modeldeploy import mergepatch, metrics, names, render, rollout
from modeldeploy.analysis.duration import analysis_window
from modeldeploy.analysis.provider import MetricsProvider, ProviderError
from modeldeploy.analysis.run import QueryContext, run_checks
from modeldeploy.analysis.verdict import CheckResult, Verdict, aggregate
from modeldeploy.applied import needs_apply, with_applied_hash
from modeldeploy.cache import (
    DEPLOYMENT,
    SERVICE,
    ChildStore,
    ModelDeploymentStore,
    NamespaceStore,
    PolicyStore,
)
from modeldeploy.commands import read_commands
from modeldeploy.conditions import find_condition
from modeldeploy.events import get_event
from modeldeploy.kube import Kube
from modeldeploy.notifications import build_message, targets_for
from modeldeploy.notify import Notifier
from modeldeploy.observed import Observed
from modeldeploy.pods import DirectPodHttp, PodHttp, PodUnreachable
from modeldeploy.policy.govern import POLICY_VIOLATION, Governed, govern, served_spec
from modeldeploy.policy.govern import record as record_policy
from modeldeploy.policy.select import Policy, select_policy
from modeldeploy.probe import run_preflight
from modeldeploy.revision import compute_revision
from modeldeploy.rollout import preflight, shadow
from modeldeploy.spec import (
    ModelDeploymentSpec,
    spec_from_source,
)
from modeldeploy.traffic.base import Router, RouterError, RouteTarget
from modeldeploy.traffic.factory import route_target, router_for
from modeldeploy.validation import InvalidSpec, load_spec
from modeldeploy.wakeup import next_wakeup

log = logging.getLogger("modeldeploy.reconciler")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _namespace_terminating(error: ApiException) -> bool:
    return error.status == 403 and "NamespaceTerminating" in str(error.body or "")


def api_message(error: ApiException) -> str:
    """The API server's own words for a refused request."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{error.status} {error.reason}")


def _policy_events(before: dict[str, Any], after: dict[str, Any]) -> list[rollout.Event]:
    """A Warning when the rules a ModelDeployment breaks change, and a Normal Event when it
    complies again."""
    old = find_condition(before.get("conditions") or [], POLICY_VIOLATION) or {}
    new = find_condition(after.get("conditions") or [], POLICY_VIOLATION) or {}
    if new.get("status") == "True" and new.get("message") != old.get("message"):
        return [rollout.Event("Warning", POLICY_VIOLATION, str(new.get("message")))]
    if old.get("status") == "True" and new.get("status") == "False":
        return [rollout.Event("Normal", "PolicyCompliant", str(new.get("message")))]
    return []


def summarize(results: list[CheckResult]) -> str:
    """The messages of the checks that did not pass, or of all when every one passed."""
    failing = [r.message for r in results if r.verdict is not Verdict.PASS]
    return "; ".join(failing or [r.message for r in results]) or "no checks configured"


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
    ) -> None:
        self.kube = kube
        self.provider = provider
        self.models = models
        self.children = children
        self.policies = policies or PolicyStore()
        self.namespace_labels = namespace_labels or NamespaceStore()
        self.notifier = notifier
        self.operator_namespace = operator_namespace
        self.pod_http = pod_http or DirectPodHttp()
        self.clock = clock
        self.min_window_s = min_window_s

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
        status: dict[str, Any] = body.get("status") or {}
        now = self.clock()
        raw_spec = body.get("spec") or {}
        labels = self.namespace_labels.labels(namespace)
        current_policy = select_policy(self.policies.all(), labels)
        try:
            own = load_spec(raw_spec)
            revision = compute_revision(name, own)
            governed = govern(raw_spec, revision, status, current_policy, own)
        except InvalidSpec as error:
            return self._refuse(body, status, "InvalidSpec", str(error), now)
        model_spec = governed.spec
        asked_for = revision
        if governed.blocked:
            served = served_spec(status)
            if served is None:
                message = "; ".join(governed.violations) + "; nothing is deployed"
                return self._refuse(
                    body, status, POLICY_VIOLATION, message, now, governed, current_policy
                )
            # Whatever serves goes on serving, at its size, and nothing new starts.
            model_spec, revision = served

        observed = self._with_crashes(namespace, name, self.children.observed(namespace, name))
        commands = read_commands(meta.get("annotations") or {}, status)
        router, target = self._router(namespace, name, model_spec)

        analysis = None
        if rollout.analysis_due(model_spec, status, now):
            analysis = self._analyze(namespace, name, model_spec, status, now)
        found_preflight = None
        if preflight.due(status, revision, now):
            found_preflight = run_preflight(
                self.kube, self.pod_http, namespace, name, model_spec, status
            )
            log.info(
                "preflight %s: %s",
                found_preflight.verdict,
                found_preflight.message,
                extra={"namespace": namespace, "object": name},
            )
        route_weight: int | None = None
        try:
            route_weight = router.read_weight(target)
        except RouterError as error:
            log.warning("route: %s", error, extra={"namespace": namespace, "object": name})

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

        new_status = record_policy(decision.status, governed, rollout.iso(now), generation)
        # Blocked, the decision was taken for what serves; status still names what is asked.
        new_status["revision"] = asked_for
        # The decision is recorded before it is carried out: if the record loses to a newer
        # write, nothing is done on a stale view; if the operator dies after it, the next
        # reconcile carries out the same decision from the status.
        written = self._write_status(namespace, name, meta["resourceVersion"], status, new_status)
        if written is None:
            return self._stale(namespace, name)

        # The status records the decision, so its Events go out now, whatever becomes of
        # carrying it out.
        events = [*decision.events, *_policy_events(status, new_status)]
        for event in events:
            self._post(namespace, name, meta["uid"], event)
        self._notify(namespace, name, model_spec, current_policy, events, new_status, now)
        owner = render.Owner(name=name, namespace=namespace, uid=meta["uid"])
        try:
            self._carry_out(owner, decision, observed, router, target, route_weight)
        except ApiException as error:
            if not _namespace_terminating(error):
                message = f"could not carry out the decision: {api_message(error)}"
                self._post(
                    namespace, name, meta["uid"], rollout.Event("Warning", "ApplyFailed", message)
                )
            raise
        self._steer_shadow(namespace, name, model_spec, decision, status)
        self._record_metrics(namespace, name, decision, analysis)
        # A decision that changed the status may not be the last one at this instant (a step
        # that advanced onto a canary already at its size is reached at once): look again until
        # deciding changes nothing. The echo of the status write cannot be relied on for that:
        # the cache already holds the written version, so the echo is no news.
        return Outcome(wake_at=next_wakeup(model_spec, decision.status, now), again=bool(written))

    def _notify(
        self,
        namespace: str,
        name: str,
        model_spec: ModelDeploymentSpec,
        policy: Policy | None,
        events: list[rollout.Event],
        status: dict[str, Any],
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
            message = build_message(
                event.reason, event.message, namespace, name, status, rollout.iso(now)
            )
            if message is not None:
                self.notifier.submit(targets, message)

    def _refuse(
        self,
        body: dict[str, Any],
        status: dict[str, Any],
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
        written = self._write_status(namespace, name, meta["resourceVersion"], status, new_status)
        if written is None:
            return self._stale(namespace, name)
        if status.get("message") != message:
            event = rollout.Event("Warning", reason, message)
            self._post(namespace, name, meta["uid"], event)
            if governed is not None:
                self._notify(namespace, name, governed.spec, policy, [event], new_status, now)
        return Outcome()

    def _carry_out(
        self,
        owner: render.Owner,
        decision: rollout.Decision,
        observed: Observed,
        router: Router,
        target: RouteTarget,
        route_weight: int | None,
    ) -> None:
        namespace, name = owner.namespace, owner.name
        # Traffic leaves the canary before its pods do, and reaches it only after they exist.
        lowering = route_weight is not None and decision.weight < route_weight
        if lowering:
            self._set_weight(router, target, decision.weight)
        for rev, replicas in decision.replicas.items():
            source = decision.sources.get(rev)
            if source is None:
                # No record of what shaped this revision: never re-render it from another
                # revision's spec, only set its size.
                self._scale_if_needed(namespace, names.deployment_name(name, rev), replicas)
                continue
            revision_spec = spec_from_source(source, replicas)
            applied = self._apply_if_needed(
                DEPLOYMENT, render.get_deployment(owner, revision_spec, rev, replicas)
            )
            if applied is not None:
                # Rendered from what shapes the Deployment, so it changes only when that does.
                self.kube.apply(render.get_disruption_budget(applied, revision_spec, name, rev))
        services = render.get_services(
            owner, decision.stable_revision, decision.canary_revision, decision.client_revisions
        )
        for service in services:
            self._apply_if_needed(SERVICE, service)
        if not lowering:
            self._set_weight(router, target, decision.weight)
        for rev, deployment in observed.deployments.items():
            if rev not in decision.replicas:
                log.info("deleting %s: revision %s is no longer needed", deployment.name, rev)
                self.kube.delete_deployment(namespace, deployment.name)
                self.children.delete(DEPLOYMENT, namespace, deployment.name)

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

    def _router(
        self, namespace: str, name: str, model_spec: ModelDeploymentSpec
    ) -> tuple[Router, RouteTarget]:
        traffic = model_spec.rollout.traffic if model_spec.rollout else None
        return router_for(traffic, self.kube), route_target(namespace, name, traffic)

    def _set_weight(self, router: Router, target: RouteTarget, weight: int) -> None:
        try:
            router.set_weight(target, weight)
        except RouterError as error:
            log.warning(
                "route: %s", error, extra={"namespace": target.namespace, "object": target.name}
            )

    def _steer_shadow(
        self,
        namespace: str,
        name: str,
        model_spec: ModelDeploymentSpec,
        decision: rollout.Decision,
        before: dict[str, Any],
    ) -> None:
        """Tells the stable's pods to copy requests to the new revision while the shadow phase
        runs (renewed at every reconcile, lapsing on its own otherwise), and to stop after."""
        copying = decision.shadow
        if copying is None and not shadow.running(before.get("rollout")):
            return
        stable = decision.stable_revision
        if stable is None:
            return
        body: dict[str, Any] | None = None
        if copying is not None:
            service = names.canary_service_name(name)
            body = {
                "target": f"http://{service}.{namespace}.svc:{render.SERVICE_PORT}",
                "percent": copying.percent,
                "candidateRevision": copying.candidate_revision,
                "ttlSeconds": copying.ttl_s,
            }
        method = "POST" if body is not None else "DELETE"
        port = model_spec.serving.port
        for pod in self.kube.list_ready_pods(namespace, names.selector_labels(name, stable)):
            try:
                code, answer = self.pod_http.request(pod, port, method, "/admin/shadow", body, 5.0)
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

    def _with_crashes(self, namespace: str, name: str, observed: Observed) -> Observed:
        """Pods are read only for a revision short of Ready pods, where a crash would show:
        one LIST in a failure, none while all is well."""
        short = [
            rev
            for rev, found in observed.deployments.items()
            if found.ready_replicas < found.replicas
        ]
        if not short:
            return observed
        crashes = {}
        for rev in short:
            found = self.kube.list_crashes(namespace, names.selector_labels(name, rev))
            if found:
                crashes[rev] = tuple(found)
        return replace(observed, crashes=crashes)

    def _analyze(
        self,
        namespace: str,
        name: str,
        model_spec: ModelDeploymentSpec,
        status: dict[str, Any],
        now: datetime,
    ) -> rollout.Analysis:
        assert model_spec.rollout is not None
        state = status.get("rollout") or {}
        stable = status.get("stable") or {}
        due = rollout.next_check_at(model_spec, state, now.tzinfo)
        assert due is not None  # the shell analyzes only when a check is due
        lag_s = (now - due).total_seconds()
        metrics.CHECK_LAG.observe(max(lag_s, 0.0))
        context = QueryContext(
            namespace=namespace,
            name=name,
            model=model_spec.model.name,
            version=state.get("version", model_spec.model.version),
            canary_revision=state.get("revision", ""),
            stable_revision=stable.get("revision"),
            window=analysis_window(model_spec.rollout.interval, self.min_window_s),
            stable_version=stable.get("version"),
        )
        results = run_checks(
            shadow.checks_for(model_spec, status),
            context,
            self.provider or _NoProvider(),
            rollout.iso(now),
            min_requests=model_spec.rollout.min_requests,
        )
        verdict = aggregate(results)
        summary = summarize(results)
        log.info(
            "checks %s: %s",
            verdict.value,
            summary,
            extra={
                "namespace": namespace,
                "object": name,
                "verdict": verdict.value,
                "due": rollout.iso(due),
                "lag_s": round(lag_s, 3),
            },
        )
        return rollout.Analysis(
            verdict=verdict.value, results=[r.to_status() for r in results], summary=summary
        )

    def _record_metrics(
        self,
        namespace: str,
        name: str,
        decision: rollout.Decision,
        analysis: rollout.Analysis | None,
    ) -> None:
        status = decision.status
        metrics.record_phase(namespace, name, status["phase"])
        metrics.READY_REPLICAS.labels(namespace, name).set(status.get("readyReplicas") or 0)
        metrics.CANARY_WEIGHT.labels(namespace, name).set(decision.weight)
        metrics.EFFECTIVE_WEIGHT.labels(namespace, name).set(status.get("effectiveWeight") or 0)
        state = status.get("rollout") or {}
        metrics.ROLLOUT_STEP.labels(namespace, name).set(state.get("step", -1))
        for event in decision.events:
            if event.reason == "RolledBack":
                metrics.ROLLBACKS.labels(namespace, name).inc()
            elif event.reason == "Promoted":
                metrics.PROMOTIONS.labels(namespace, name).inc()
        for result in analysis.results if analysis else []:
            metrics.CHECK_RESULTS.labels(namespace, name, result["name"], result["verdict"]).inc()
            if result.get("value") is not None:
                metrics.CHECK_VALUE.labels(namespace, name, result["name"]).set(result["value"])

    def _write_status(
        self,
        namespace: str,
        name: str,
        resource_version: str,
        current: dict[str, Any],
        desired: dict[str, Any],
    ) -> dict[str, Any] | None:
        """The status patch written ({} when nothing differed), or None when the write lost to
        a newer version of the object."""
        patch: dict[str, Any] = mergepatch.diff(current, desired)
        if not patch:
            return patch
        written = self.kube.patch_status(namespace, name, patch, resource_version)
        if written is None:
            return None
        self.models.upsert(written)
        if current.get("phase") != desired.get("phase"):
            log.info(
                "phase %s -> %s: %s",
                current.get("phase"),
                desired.get("phase"),
                desired.get("message"),
                extra={"namespace": namespace, "object": name, "phase": desired.get("phase")},
            )
        return patch

    def _post(self, namespace: str, name: str, uid: str, event: rollout.Event) -> None:
        log.info(
            "%s: %s",
            event.reason,
            event.message,
            extra={"namespace": namespace, "object": name, "reason": event.reason},
        )
        metrics.EVENTS.labels(namespace, name, event.reason).inc()
        self.kube.create_event(
            get_event(namespace, name, uid, event.type, event.reason, event.message)
        )


class _NoProvider:
    """Stands where no Prometheus is configured: every check then errors, which holds the ramp
    and, past the inconclusive limit, rolls back; missing data is never a pass."""

    def query(self, promql: str) -> float | None:
        raise ProviderError("no Prometheus configured (set MODELDEPLOY_PROMETHEUS_URL)")

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        raise ProviderError("no Prometheus configured (set MODELDEPLOY_PROMETHEUS_URL)")

    def is_online(self) -> bool:
        return False
