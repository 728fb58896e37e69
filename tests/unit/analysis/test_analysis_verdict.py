"""Verdicts on measured values: absolute and relative bounds, missing data, aggregation."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.analysis.verdict import (
    Bounds,
    CheckResult,
    Verdict,
    aggregate,
    errored,
    evaluate,
    inconclusive,
    relative_increase,
    traffic_shortfall,
)

AT = "2026-01-01T12:00:00Z"
NAN = float("nan")
INF = float("inf")

finite = st.floats(allow_nan=False, allow_infinity=False)
finite_or_infinite = st.floats(allow_nan=False)
any_value = st.one_of(st.none(), st.floats())
maybe_bound = st.one_of(st.none(), finite)
fraction = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def bounds(draw: st.DrawFn) -> Bounds:
    maximum, minimum = draw(maybe_bound), draw(maybe_bound)
    increase = draw(st.one_of(st.none(), fraction))
    if maximum is None and minimum is None and increase is None:
        maximum = draw(finite)
    return Bounds(max=maximum, min=minimum, max_increase=increase)


def judge(b: Bounds, value: float | None, stable: float | None = None) -> Verdict:
    return evaluate("c", b, value, stable, measured_at=AT).verdict


# --- absolute bounds ------------------------------------------------------------------------


@given(value=finite, maximum=finite)
def test_max_fails_exactly_when_value_exceeds_it(value: float, maximum: float) -> None:
    expected = Verdict.FAIL if value > maximum else Verdict.PASS
    assert judge(Bounds(max=maximum), value) is expected


@given(value=finite, minimum=finite)
def test_min_fails_exactly_when_value_is_below_it(value: float, minimum: float) -> None:
    expected = Verdict.FAIL if value < minimum else Verdict.PASS
    assert judge(Bounds(min=minimum), value) is expected


def test_equal_to_a_bound_passes() -> None:
    assert judge(Bounds(max=0.01), 0.01) is Verdict.PASS
    assert judge(Bounds(min=5), 5) is Verdict.PASS


@pytest.mark.parametrize(
    "b",
    [Bounds(max=1e300), Bounds(min=-1e300), Bounds(min=0), Bounds(max=0), Bounds(max_increase=0.1)],
)
@pytest.mark.parametrize("value", [INF, -INF])
def test_an_infinity_is_no_measurement(b: Bounds, value: float) -> None:
    """A ratio divided by zero would otherwise pass a min-only or max-only bound."""
    result = evaluate("ratio", b, value, 1.0, measured_at="t")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.message == f"ratio: no usable value ({value:+})"


def test_failure_message_and_bound() -> None:
    result = evaluate("error-rate", Bounds(max=0.01), 0.25, measured_at=AT)
    assert result.verdict is Verdict.FAIL
    assert result.message == "error-rate 0.250 > max 0.01"
    assert result.bound == "max 0.01"
    assert result.value == 0.25
    assert result.measured_at == AT


def test_min_message_and_bound() -> None:
    result = evaluate("request-count", Bounds(min=5), 3, measured_at=AT)
    assert result.message == "request-count 3.000 < min 5"
    assert result.bound == "min 5"


def test_pass_message() -> None:
    result = evaluate("latency-p95", Bounds(max=0.5), 0.123, measured_at=AT)
    assert result.verdict is Verdict.PASS
    assert result.message == "latency-p95 0.123 within max 0.5"


@pytest.mark.parametrize(
    ("value", "shown"), [(1e-5, "1.000e-05"), (2e7, "2.000e+07"), (INF, "inf"), (0.0, "0.000")]
)
def test_small_and_large_values_stay_readable(value: float, shown: str) -> None:
    assert shown in evaluate("c", Bounds(max=-1), value, measured_at=AT).message


# --- missing data ---------------------------------------------------------------------------


@given(b=bounds(), stable=any_value)
def test_missing_value_is_never_a_pass(b: Bounds, stable: float | None) -> None:
    for value in (None, NAN):
        result = evaluate("c", b, value, stable, measured_at=AT)
        assert result.verdict is Verdict.INCONCLUSIVE
        assert "no data" in result.message


@given(b=bounds(), value=any_value, stable=any_value)
def test_pass_needs_a_value_and_for_maxincrease_a_stable_value(
    b: Bounds, value: float | None, stable: float | None
) -> None:
    if judge(b, value, stable) is Verdict.PASS:
        assert value is not None and not math.isnan(value)
        if b.max_increase is not None:
            assert stable is not None and math.isfinite(stable)


def test_no_data_message() -> None:
    assert evaluate("error-rate", Bounds(max=1), None, measured_at=AT).message == (
        "error-rate: no data"
    )


# --- relative bound -------------------------------------------------------------------------


def test_max_increase_message_and_bound() -> None:
    result = evaluate("latency-p95", Bounds(max_increase=0.1), 0.15, 0.12, measured_at=AT)
    assert result.verdict is Verdict.FAIL
    assert result.bound == "maxIncrease 10% over stable 0.120"
    assert result.message == "latency-p95 0.150 is +25.0% over stable 0.120 > maxIncrease 10%"
    assert result.stable_value == 0.12


def test_max_increase_within() -> None:
    result = evaluate("latency-p95", Bounds(max_increase=0.1), 0.13, 0.12, measured_at=AT)
    assert result.verdict is Verdict.PASS


@pytest.mark.parametrize("stable", [None, NAN])
def test_max_increase_without_stable_data_is_inconclusive(stable: float | None) -> None:
    result = evaluate("latency-p95", Bounds(max_increase=0.1), 0.1, stable, measured_at=AT)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.message == "latency-p95: no stable data for maxIncrease"
    assert result.bound == "maxIncrease 10% over stable (no data)"


def test_infinite_stable_leaves_no_scale() -> None:
    assert judge(Bounds(max_increase=0.1), 1.0, INF) is Verdict.INCONCLUSIVE


def test_a_breached_absolute_bound_fails_even_without_stable_data() -> None:
    assert judge(Bounds(max=1, max_increase=0.1), 2.0, None) is Verdict.FAIL


@pytest.mark.parametrize(
    ("canary", "stable", "increase"),
    [(0.12, 0.1, 0.2), (0.05, 0.1, -0.5), (0, 0, 0), (1, 0, INF), (-1, 0, -INF), (-1, -2, 0.5)],
)
def test_relative_increase(canary: float, stable: float, increase: float) -> None:
    assert relative_increase(canary, stable) == pytest.approx(increase)


def test_stable_zero_passes_only_a_canary_of_zero_or_below() -> None:
    assert judge(Bounds(max_increase=10), 0.0, 0.0) is Verdict.PASS
    assert judge(Bounds(max_increase=10), 1e-12, 0.0) is Verdict.FAIL
    assert judge(Bounds(max_increase=10), -1.0, 0.0) is Verdict.PASS


@pytest.mark.parametrize(("canary", "stable"), [(NAN, 1), (1, INF), (1, NAN)])
def test_relative_increase_needs_numbers(canary: float, stable: float) -> None:
    with pytest.raises(ValueError):
        relative_increase(canary, stable)


@given(stable=finite, limit=fraction, low=finite, high=finite)
def test_relative_bound_is_monotonic(stable: float, limit: float, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    b = Bounds(max_increase=limit)
    if judge(b, high, stable) is Verdict.PASS:
        assert judge(b, low, stable) is Verdict.PASS


@given(stable=finite.filter(lambda s: s > 0), limit=fraction, canary=finite)
def test_relative_bound_against_a_positive_stable(
    stable: float, limit: float, canary: float
) -> None:
    expected = Verdict.FAIL if (canary - stable) / stable > limit else Verdict.PASS
    assert judge(Bounds(max_increase=limit), canary, stable) is expected


# --- several bounds -------------------------------------------------------------------------


@given(b=bounds(), value=finite_or_infinite, stable=finite)
def test_all_bounds_must_hold(b: Bounds, value: float, stable: float) -> None:
    singles = [
        Bounds(max=b.max) if b.max is not None else None,
        Bounds(min=b.min) if b.min is not None else None,
        Bounds(max_increase=b.max_increase) if b.max_increase is not None else None,
    ]
    each = [judge(single, value, stable) for single in singles if single is not None]
    assert (judge(b, value, stable) is Verdict.PASS) == all(v is Verdict.PASS for v in each)


def test_several_breaches_are_all_named() -> None:
    result = evaluate("c", Bounds(max=1, max_increase=0.1), 5, 1, measured_at=AT)
    assert (
        result.message == "c 5.000 > max 1; c 5.000 is +400.0% over stable 1.000 > maxIncrease 10%"
    )
    assert result.bound == "max 1, maxIncrease 10% over stable 1.000"


# --- bounds and results ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{}, {"max": NAN}, {"min": NAN}, {"max_increase": NAN}, {"max_increase": -0.1}]
)
def test_invalid_bounds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Bounds(**kwargs)


def test_to_status_is_camel_case() -> None:
    result = evaluate("latency-p95", Bounds(max_increase=0.1), 0.15, 0.12, measured_at=AT)
    assert result.to_status().model_dump(by_alias=True) == {
        "name": "latency-p95",
        "verdict": "Fail",
        "value": 0.15,
        "stableValue": 0.12,
        "bound": "maxIncrease 10% over stable 0.120",
        "message": "latency-p95 0.150 is +25.0% over stable 0.120 > maxIncrease 10%",
        "measuredAt": AT,
    }


@given(b=bounds(), value=any_value, stable=any_value)
def test_status_is_always_valid_json(b: Bounds, value: float | None, stable: float | None) -> None:
    entry = evaluate("c", b, value, stable, measured_at=AT).to_status()
    json.dumps(entry.model_dump(mode="json", by_alias=True), allow_nan=False)


def test_results_are_immutable() -> None:
    result = evaluate("c", Bounds(max=1), 0, measured_at=AT)
    with pytest.raises(AttributeError):
        result.verdict = Verdict.FAIL  # type: ignore[misc]


def test_errored_and_inconclusive_results() -> None:
    error = errored("c", Bounds(max=1), "Prometheus is down", measured_at=AT)
    assert (error.verdict, error.message, error.bound, error.value) == (
        Verdict.ERROR,
        "Prometheus is down",
        "max 1",
        None,
    )
    assert errored("c", None, "bad", measured_at=AT).bound == ""
    unsure = inconclusive("c", Bounds(min=5), "too few requests: 3 < 10", measured_at=AT)
    assert (unsure.verdict, unsure.message) == (Verdict.INCONCLUSIVE, "too few requests: 3 < 10")


# --- traffic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "minimum", "shortfall"),
    [
        (3, 10, "too few requests: 3 < 10"),
        (9.5, 10, "too few requests: 9.5 < 10"),
        (None, 10, "too few requests: no data < 10"),
        (NAN, 10, "too few requests: no data < 10"),
        (10, 10, None),
        (1e6, 10, None),
        (None, 0, None),
        (0, 0, None),
    ],
)
def test_traffic_shortfall(count: float | None, minimum: int, shortfall: str | None) -> None:
    assert traffic_shortfall(count, minimum) == shortfall


# --- aggregate ------------------------------------------------------------------------------


def result_with(verdict: Verdict) -> CheckResult:
    return CheckResult("c", verdict, None, None, "max 1", "", AT)


RANK = [Verdict.PASS, Verdict.INCONCLUSIVE, Verdict.ERROR, Verdict.FAIL]


@given(st.lists(st.sampled_from(list(Verdict))))
def test_aggregate_takes_the_worst(verdicts: list[Verdict]) -> None:
    expected = max(verdicts, key=RANK.index, default=Verdict.PASS)
    assert aggregate([result_with(v) for v in verdicts]) is expected


def test_aggregate_examples() -> None:
    assert aggregate([]) is Verdict.PASS
    assert aggregate([result_with(Verdict.PASS)] * 3) is Verdict.PASS
    assert aggregate(map(result_with, [Verdict.ERROR, Verdict.FAIL])) is Verdict.FAIL
    assert aggregate(map(result_with, [Verdict.INCONCLUSIVE, Verdict.ERROR])) is Verdict.ERROR
    assert aggregate(map(result_with, [Verdict.PASS, Verdict.INCONCLUSIVE])) is (
        Verdict.INCONCLUSIVE
    )
