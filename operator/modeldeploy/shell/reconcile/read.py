"""Read: what a reconcile looks at besides the object itself. Children come from the watch
caches; pods are listed only where a crash would show; checks are measured only when due."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from modeldeploy import rollout
from modeldeploy.analysis.duration import analysis_window
from modeldeploy.analysis.providers import MetricsProvider, ProviderError
from modeldeploy.analysis.run import QueryContext, run_checks
from modeldeploy.analysis.verdict import CheckResult, Verdict, aggregate
from modeldeploy.api import names
from modeldeploy.api.observed import Observed
from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import shadow
from modeldeploy.shell import metrics
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.stores import ChildStore

log = logging.getLogger("modeldeploy.shell.reconcile")


def observe(
    kube: Kube, children: ChildStore, namespace: str, name: str, uid: str | None = None
) -> Observed:
    """The children as the caches hold them (with `uid`, those the ModelDeployment of that uid
    controls), with the crashes of any revision short of Ready pods: one LIST in a failure,
    none while all is well."""
    observed = children.observed(namespace, name, uid)
    short = [
        rev for rev, found in observed.deployments.items() if found.ready_replicas < found.replicas
    ]
    if not short:
        return observed
    crashes = {}
    for rev in short:
        found = kube.list_crashes(namespace, names.selector_labels(name, rev))
        if found:
            crashes[rev] = tuple(found)
    return replace(observed, crashes=crashes)


def summarize(results: list[CheckResult]) -> str:
    """The messages of the checks that did not pass, or of all when every one passed."""
    failing = [r.message for r in results if r.verdict is not Verdict.PASS]
    return "; ".join(failing or [r.message for r in results]) or "no checks configured"


def measure_checks(
    provider: MetricsProvider | None,
    namespace: str,
    name: str,
    model_spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    now: datetime,
    min_window_s: float,
) -> rollout.Analysis:
    """The checks that are due, measured now; the verdict is the state machine's to act on."""
    assert model_spec.rollout is not None
    state, stable = status.rollout, status.stable
    due = rollout.next_check_at(model_spec, state, now.tzinfo)
    # The shell analyzes only when a check is due, which it is only for a rollout under way.
    assert due is not None and state is not None
    lag_s = (now - due).total_seconds()
    metrics.CHECK_LAG.observe(max(lag_s, 0.0))
    context = QueryContext(
        namespace=namespace,
        name=name,
        model=model_spec.model.name,
        version=state.version,
        canary_revision=state.revision,
        stable_revision=stable.revision if stable is not None else None,
        window=analysis_window(model_spec.rollout.interval, min_window_s),
        stable_version=stable.version if stable is not None else None,
    )
    results = run_checks(
        shadow.checks_for(model_spec, status),
        context,
        provider or NoProvider(),
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


class NoProvider:
    """Stands where no Prometheus is configured: every check then errors, which holds the ramp
    and, past the inconclusive limit, rolls back; missing data is never a pass."""

    def query(self, promql: str) -> float | None:
        raise ProviderError("no Prometheus configured (set MODELDEPLOY_PROMETHEUS_URL)")

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        raise ProviderError("no Prometheus configured (set MODELDEPLOY_PROMETHEUS_URL)")

    def is_online(self) -> bool:
        return False
