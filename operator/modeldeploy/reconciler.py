"""One idempotent, level-based reconcile of a ModelDeployment: read, decide, apply.

All deciding happens in `rollout.decide`; this module reads the world, renders what the
decision asks for, applies it, and records the decision as status, Events, logs and metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from modeldeploy import metrics, render, rollout
from modeldeploy.analysis.provider import MetricsProvider
from modeldeploy.analysis.verdict import CheckResult, Verdict
from modeldeploy.events import get_event
from modeldeploy.kube import Kube
from modeldeploy.revision import compute_revision
from modeldeploy.spec import parse_spec

log = logging.getLogger("modeldeploy.reconciler")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch from `current` to `desired` (top-level keys; removed keys → null)."""
    patch: dict[str, Any] = {k: v for k, v in desired.items() if current.get(k) != v}
    for key in current:
        if key not in desired and current[key] is not None:
            patch[key] = None
    return patch


def _namespace_terminating(error: ApiException) -> bool:
    return error.status == 403 and "NamespaceTerminating" in str(error.body or "")


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{location}: {item['msg']}" if location else item["msg"])
    return "; ".join(parts)


def summarize(results: list[CheckResult]) -> str:
    """The messages of the checks that did not pass, or of all when every one passed."""
    failing = [r.message for r in results if r.verdict is not Verdict.PASS]
    return "; ".join(failing or [r.message for r in results]) or "no checks configured"


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        provider: MetricsProvider | None,
        clock: Clock = _utcnow,
        min_window_s: float = 60.0,
    ) -> None:
        self.kube = kube
        self.provider = provider
        self.clock = clock
        self.min_window_s = min_window_s
        self.last_reconciled: dict[tuple[str, str], float] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, namespace: str, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((namespace, name), threading.Lock())

    def forget(self, namespace: str, name: str) -> None:
        with self._locks_guard:
            self._locks.pop((namespace, name), None)
        metrics.forget(namespace, name)

    def seconds_since_reconcile(self, namespace: str, name: str) -> float:
        last = self.last_reconciled.get((namespace, name))
        return float("inf") if last is None else time.monotonic() - last

    def reconcile(self, namespace: str, name: str) -> None:
        self.last_reconciled[(namespace, name)] = time.monotonic()
        with self._lock(namespace, name):
            try:
                self._reconcile(namespace, name)
            except ApiException as error:
                metrics.RECONCILES.labels(namespace, name, "error").inc()
                if _namespace_terminating(error):
                    log.info("namespace %s is being deleted; nothing to reconcile", namespace)
                    return
                raise
            except Exception:
                metrics.RECONCILES.labels(namespace, name, "error").inc()
                raise
            metrics.RECONCILES.labels(namespace, name, "ok").inc()

    def _reconcile(self, namespace: str, name: str) -> None:
        body = self.kube.get_model_deployment(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        meta = body["metadata"]
        generation = meta.get("generation")
        status: dict[str, Any] = body.get("status") or {}
        now = self.clock()
        try:
            model_spec = parse_spec(body.get("spec") or {})
        except ValidationError as error:
            message = describe_validation_error(error)
            new_status = rollout.invalid_spec_status(status, message, generation, now)
            if status.get("message") != message:
                self._post(
                    namespace, name, meta["uid"], rollout.Event("Warning", "InvalidSpec", message)
                )
            self._write_status(namespace, name, status, new_status)
            return

        revision = compute_revision(name, model_spec)
        observed = self.kube.observe(namespace, name)
        decision = rollout.decide(name, model_spec, revision, status, observed, now, generation)

        owner = render.Owner(name=name, namespace=namespace, uid=meta["uid"])
        for rev, replicas in decision.replicas.items():
            self.kube.apply(render.get_deployment(owner, model_spec, rev, replicas))
        service_revision = decision.stable_revision or revision
        canary_revision = decision.canary_revision if decision.stable_revision else None
        for service in render.get_services(owner, service_revision, canary_revision):
            self.kube.apply(service)
        for rev, deployment in observed.deployments.items():
            if rev not in decision.replicas:
                log.info("deleting %s: revision %s is no longer needed", deployment.name, rev)
                self.kube.delete_deployment(namespace, deployment.name)

        for event in decision.events:
            self._post(namespace, name, meta["uid"], event)
        self._write_status(namespace, name, status, decision.status)
        metrics.record_phase(namespace, name, decision.status["phase"])
        metrics.READY_REPLICAS.labels(namespace, name).set(
            decision.status.get("readyReplicas") or 0
        )
        metrics.CANARY_WEIGHT.labels(namespace, name).set(decision.status.get("weight") or 0)

    def _write_status(
        self, namespace: str, name: str, current: dict[str, Any], desired: dict[str, Any]
    ) -> None:
        patch = status_patch(current, desired)
        if not patch:
            return
        if current.get("phase") != desired.get("phase"):
            log.info(
                "phase %s -> %s: %s",
                current.get("phase"),
                desired.get("phase"),
                desired.get("message"),
                extra={"namespace": namespace, "object": name, "phase": desired.get("phase")},
            )
        self.kube.patch_status(namespace, name, patch)

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
        from modeldeploy.analysis.provider import ProviderError

        raise ProviderError("no Prometheus configured (set MODELDEPLOY_PROMETHEUS_URL)")

    def is_online(self) -> bool:
        return False
