"""Verdicts: what a measured value means against a check's bounds. Pure; no I/O, no clock.

Missing data is never a pass: an empty result, NaN or an infinity, a missing stable value for a
relative bound, or too little canary traffic all give INCONCLUSIVE, which the rollout may wait out
but must not promote on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from modeldeploy.api.status import CheckStatus


class Verdict(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


@dataclass(frozen=True)
class Bounds:
    """Limits a value must keep; every bound that is set must hold."""

    max: float | None = None
    min: float | None = None
    max_increase: float | None = None
    """Largest allowed rise over the stable value, as a fraction: 0.1 is 10%."""

    def __post_init__(self) -> None:
        bounds = (self.max, self.min, self.max_increase)
        if all(b is None for b in bounds):
            raise ValueError("a check needs a bound: max, min or maxIncrease")
        # Every comparison with NaN is false, so a NaN bound would pass anything.
        if any(b is not None and math.isnan(b) for b in bounds):
            raise ValueError("a bound must be a number, not NaN")
        if self.max_increase is not None and self.max_increase < 0:
            raise ValueError("maxIncrease must not be negative")

    def describe(self, stable_value: float | None = None) -> str:
        """The bounds as text, e.g. "max 0.01" or "maxIncrease 10% over stable 0.120"."""
        parts = []
        if self.max is not None:
            parts.append(f"max {format_bound(self.max)}")
        if self.min is not None:
            parts.append(f"min {format_bound(self.min)}")
        if self.max_increase is not None:
            stable = "(no data)" if _missing(stable_value) else format_value(stable_value)
            parts.append(f"maxIncrease {format_percent(self.max_increase)} over stable {stable}")
        return ", ".join(parts)


@dataclass(frozen=True)
class CheckResult:
    name: str
    verdict: Verdict
    value: float | None
    stable_value: float | None
    bound: str
    message: str
    measured_at: str

    def to_status(self) -> CheckStatus:
        """The result as an entry of `status.checks`.

        JSON has no NaN or Infinity, so a non-finite value is written as null; the message
        still says what was measured.
        """
        return CheckStatus(
            name=self.name,
            verdict=self.verdict.value,
            value=_finite_or_none(self.value),
            stable_value=_finite_or_none(self.stable_value),
            bound=self.bound,
            message=self.message,
            measured_at=self.measured_at,
        )


def format_value(value: float | None) -> str:
    if value is None:
        return "no data"
    if value == 0 or (math.isfinite(value) and 1e-3 <= abs(value) < 1e6):
        return f"{value:.3f}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3e}"


def format_bound(bound: float) -> str:
    return f"{bound:g}"


def format_percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _format_change(fraction: float) -> str:
    if math.isinf(fraction):
        return "+inf%" if fraction > 0 else "-inf%"
    return f"{fraction * 100:+.1f}%"


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def relative_increase(canary: float, stable: float) -> float:
    """(canary - stable) / |stable|: how far canary rose over stable, 0.1 being 10%.

    Dividing by |stable| keeps the sign meaning "rose" when stable is negative. With stable at
    0 there is no scale: equal is no increase, anything higher an infinite one, anything lower
    an infinite decrease. For the non-negative built-in metrics that means a check against a
    stable 0 passes only if the canary is 0 too.
    """
    if math.isnan(canary) or not math.isfinite(stable):
        raise ValueError("relative_increase needs a canary value and a finite stable value")
    if stable == 0:
        if canary == 0:
            return 0.0
        return math.inf if canary > 0 else -math.inf
    return (canary - stable) / abs(stable)


def _result(
    name: str,
    verdict: Verdict,
    bounds: Bounds,
    message: str,
    measured_at: str,
    value: float | None = None,
    stable_value: float | None = None,
) -> CheckResult:
    return CheckResult(
        name=name,
        verdict=verdict,
        value=value,
        stable_value=stable_value,
        bound=bounds.describe(stable_value),
        message=message,
        measured_at=measured_at,
    )


def evaluate(
    name: str,
    bounds: Bounds,
    value: float | None,
    stable_value: float | None = None,
    *,
    measured_at: str,
) -> CheckResult:
    """The verdict on one measured value; `stable_value` matters only for maxIncrease."""
    if value is None or not math.isfinite(value):
        # An infinity is no measurement (a ratio over no requests, a quantile beyond the last
        # bucket): as a number it would pass any min-only or max-only bound on one side.
        reason = (
            "no data"
            if value is None
            else "no data (NaN)"
            if math.isnan(value)
            else f"no usable value ({value:+})"
        )
        return _result(
            name,
            Verdict.INCONCLUSIVE,
            bounds,
            f"{name}: {reason}",
            measured_at,
            value,
            stable_value,
        )
    shown = format_value(value)
    breaches = []
    if bounds.max is not None and value > bounds.max:
        breaches.append(f"{name} {shown} > max {format_bound(bounds.max)}")
    if bounds.min is not None and value < bounds.min:
        breaches.append(f"{name} {shown} < min {format_bound(bounds.min)}")
    no_comparison = None
    if bounds.max_increase is not None:
        if stable_value is None or math.isnan(stable_value):
            no_comparison = "no stable data for maxIncrease"
        elif math.isinf(stable_value):
            no_comparison = f"stable value {stable_value} leaves no scale for maxIncrease"
        else:
            increase = relative_increase(value, stable_value)
            if increase > bounds.max_increase:
                breaches.append(
                    f"{name} {shown} is {_format_change(increase)} over stable "
                    f"{format_value(stable_value)} > maxIncrease "
                    f"{format_percent(bounds.max_increase)}"
                )
    # A breached bound fails the check even when another bound could not be judged.
    if breaches:
        verdict, message = Verdict.FAIL, "; ".join(breaches)
    elif no_comparison is not None:
        verdict, message = Verdict.INCONCLUSIVE, f"{name}: {no_comparison}"
    else:
        verdict, message = Verdict.PASS, f"{name} {shown} within {bounds.describe(stable_value)}"
    return _result(name, verdict, bounds, message, measured_at, value, stable_value)


def inconclusive(name: str, bounds: Bounds, reason: str, *, measured_at: str) -> CheckResult:
    """A check that could not be judged, e.g. with no stable revision to compare with."""
    return _result(name, Verdict.INCONCLUSIVE, bounds, reason, measured_at)


def errored(name: str, bounds: Bounds | None, message: str, *, measured_at: str) -> CheckResult:
    """A check that could not be run: Prometheus failed, or the check itself is invalid.

    `bounds` is None when the check's bounds are themselves what is wrong.
    """
    return CheckResult(
        name=name,
        verdict=Verdict.ERROR,
        value=None,
        stable_value=None,
        bound=bounds.describe() if bounds is not None else "",
        message=message,
        measured_at=measured_at,
    )


def traffic_shortfall(request_count: float | None, min_requests: int) -> str | None:
    """Why the canary saw too little traffic to judge, or None when it saw enough."""
    if min_requests <= 0:
        return None
    if request_count is None or math.isnan(request_count):
        return f"too few requests: no data < {min_requests}"
    if request_count < min_requests:
        return f"too few requests: {request_count:.4g} < {min_requests}"
    return None


def aggregate(results: Iterable[CheckResult]) -> Verdict:
    """One verdict for a step: any FAIL, else any ERROR, else any INCONCLUSIVE, else PASS.

    No results means no checks are configured, so there is nothing to hold the step back.
    """
    verdicts = {result.verdict for result in results}
    for verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE):
        if verdict in verdicts:
            return verdict
    return Verdict.PASS
