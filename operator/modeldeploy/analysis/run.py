"""Running checks: render each query, ask the provider, hand the numbers to the verdict.

Nothing here raises for a failing check: Prometheus errors and invalid checks become ERROR
results, so one broken check never hides the others' results.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from modeldeploy.analysis import builtins, template
from modeldeploy.analysis.providers import MetricsProvider, ProviderError
from modeldeploy.analysis.psi import worst_psi
from modeldeploy.analysis.validate import check_problem
from modeldeploy.analysis.verdict import (
    Bounds,
    CheckResult,
    Verdict,
    aggregate,
    errored,
    evaluate,
    inconclusive,
    traffic_shortfall,
)
from modeldeploy.api.spec import CheckSpec

__all__ = ["QueryContext", "Side", "Verdict", "aggregate", "run_checks"]


class Side(Enum):
    CANARY = "canary"
    STABLE = "stable"


@dataclass(frozen=True)
class QueryContext:
    """What the template variables of one analysis stand for."""

    namespace: str
    name: str
    model: str
    version: str
    """Model version of the canary, i.e. of the spec being rolled out."""
    canary_revision: str
    stable_revision: str | None
    window: str
    """A Prometheus duration; see `duration.analysis_window`."""
    stable_version: str | None = None
    """Model version of the stable revision; without it `{{version}}` cannot be rendered
    for the stable side of a maxIncrease comparison."""

    def variables(self, side: Side) -> dict[str, str | None]:
        canary = side is Side.CANARY
        return {
            "namespace": self.namespace,
            "name": self.name,
            "model": self.model,
            "version": self.version if canary else self.stable_version,
            "revision": self.canary_revision if canary else self.stable_revision,
            "canary_revision": self.canary_revision,
            "stable_revision": self.stable_revision,
            "interval": self.window,
        }


class _Inconclusive(Exception):
    pass


def _measure(
    query: str, context: QueryContext, side: Side, provider: MetricsProvider
) -> float | None:
    """The value of `query` for one side; ProviderError and TemplateError pass through."""
    try:
        promql = template.render(query, context.variables(side))
    except template.MissingValue as exc:
        stable_needed = exc.variable == "stable_revision" or (
            exc.variable == "revision" and side is Side.STABLE
        )
        # Nothing to compare with yet is missing data, not a broken check.
        if stable_needed and context.stable_revision is None:
            raise _Inconclusive("no stable revision to compare with") from None
        if side is Side.STABLE:
            raise template.TemplateError(f"{exc} for the stable revision") from None
        raise
    return provider.query(promql)


def _histogram_shift(query: str, context: QueryContext, provider: MetricsProvider) -> float | None:
    """The PSI between the canary's and the stable's histograms of `query`."""
    if context.stable_revision is None:
        raise _Inconclusive("no stable revision to compare with")
    canary, stable = (
        provider.query_vector(template.render(query, context.variables(side)))
        for side in (Side.CANARY, Side.STABLE)
    )
    return worst_psi(canary, stable)


@dataclass(frozen=True)
class _Traffic:
    shortfall: str | None = None
    """Why there is too little canary traffic to judge, if there is."""
    error: str | None = None
    """Why the canary traffic could not be counted, if it could not."""


def _count_traffic(context: QueryContext, provider: MetricsProvider, min_requests: int) -> _Traffic:
    if min_requests <= 0:
        return _Traffic()
    try:
        count = _measure(builtins.REQUEST_COUNT_QUERY, context, Side.CANARY, provider)
    except (ProviderError, template.TemplateError) as exc:
        return _Traffic(error=f"counting requests: {exc}")
    return _Traffic(shortfall=traffic_shortfall(count, min_requests))


def _run_one(
    check: CheckSpec,
    context: QueryContext,
    provider: MetricsProvider,
    now_iso: str,
    traffic: _Traffic,
) -> CheckResult:
    try:
        bounds = Bounds(max=check.max, min=check.min, max_increase=check.max_increase)
    except ValueError as exc:
        return errored(check.name, None, f"{check.name}: {exc}", measured_at=now_iso)
    problem = check_problem(check)
    if problem is None:
        problem = traffic.error
    if problem is not None:
        return errored(check.name, bounds, problem, measured_at=now_iso)
    if traffic.shortfall is not None:
        return inconclusive(check.name, bounds, traffic.shortfall, measured_at=now_iso)
    query = builtins.query_template(check)
    try:
        if builtins.compares_histograms(check):
            value = _histogram_shift(query, context, provider)
            return evaluate(check.name, bounds, value, None, measured_at=now_iso)
        value = _measure(query, context, Side.CANARY, provider)
        stable_value = None
        if check.max_increase is not None:
            stable_value = _measure(query, context, Side.STABLE, provider)
    except _Inconclusive as exc:
        return inconclusive(check.name, bounds, f"{check.name}: {exc}", measured_at=now_iso)
    except (ProviderError, template.TemplateError) as exc:
        return errored(check.name, bounds, str(exc), measured_at=now_iso)
    return evaluate(check.name, bounds, value, stable_value, measured_at=now_iso)


def run_checks(
    checks: list[CheckSpec],
    context: QueryContext,
    provider: MetricsProvider,
    now_iso: str,
    min_requests: int = 0,
) -> list[CheckResult]:
    """One result per check, in order.

    With `min_requests` > 0 the canary's infer requests over the window are counted first;
    below the threshold every check is INCONCLUSIVE, since a handful of requests proves
    nothing either way. If the count itself cannot be measured, every check is an ERROR.
    A check that is invalid in itself (unknown built-in, bad template) is an ERROR always.
    """
    traffic = _count_traffic(context, provider, min_requests) if checks else _Traffic()
    return [_run_one(check, context, provider, now_iso, traffic) for check in checks]
