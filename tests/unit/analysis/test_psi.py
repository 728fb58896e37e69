from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.analysis.psi import SHARE_FLOOR, psi, worst_psi

BOUNDS = [0.0, 1.0, 2.0, math.inf]


def cumulative(counts: list[float]) -> dict[float, float]:
    running, out = 0.0, {}
    for bound, count in zip(BOUNDS, counts, strict=True):
        running += count
        out[bound] = running
    return out


def samples(output: str, counts: list[float]) -> list[tuple[dict[str, str], float]]:
    return [
        ({"output": output, "le": "+Inf" if math.isinf(b) else f"{b:g}"}, v)
        for b, v in cumulative(counts).items()
    ]


counts = st.lists(st.integers(0, 1000).map(float), min_size=4, max_size=4).filter(
    lambda c: sum(c) > 0
)


@given(counts)
def test_a_distribution_does_not_shift_from_itself(c: list[float]) -> None:
    assert psi(cumulative(c), cumulative(c)) == 0.0


@given(counts, st.integers(1, 50))
def test_scaling_the_traffic_does_not_shift_it(c: list[float], factor: int) -> None:
    shifted = psi(cumulative([x * factor for x in c]), cumulative(c))
    assert shifted is not None and abs(shifted) < 1e-9


@given(counts, counts)
def test_the_index_is_symmetric_and_never_negative(a: list[float], b: list[float]) -> None:
    forward, backward = psi(cumulative(a), cumulative(b)), psi(cumulative(b), cumulative(a))
    assert forward is not None and backward is not None
    assert forward >= 0 and math.isclose(forward, backward, rel_tol=1e-9, abs_tol=1e-12)


def test_the_same_mean_in_other_proportions_is_a_large_shift() -> None:
    # Classes 0 and 2 swapped for 1: the mean prediction stays 1, the distribution does not.
    value = psi(cumulative([50, 0, 50, 0]), cumulative([0, 100, 0, 0]))
    assert value is not None and value > 0.25
    small = psi(cumulative([30, 40, 30, 0]), cumulative([32, 38, 30, 0]))
    assert small is not None and small < 0.01


def test_an_empty_bucket_on_one_side_is_finite() -> None:
    value = psi(cumulative([100, 0, 0, 0]), cumulative([0, 0, 0, 100]))
    assert value is not None and math.isfinite(value)
    assert math.isclose(value, 2 * (1 - SHARE_FLOOR) * math.log(1 / SHARE_FLOOR))


def test_no_predictions_on_either_side_cannot_be_told() -> None:
    assert psi(cumulative([0, 0, 0, 0]), cumulative([1, 2, 3, 4])) is None
    assert psi({}, cumulative([1, 2, 3, 4])) is None
    assert worst_psi([], samples("label", [1, 2, 3, 4])) is None


def test_the_worst_output_counts() -> None:
    canary = [*samples("label", [50, 0, 50, 0]), *samples("score", [30, 40, 30, 0])]
    stable = [*samples("label", [0, 100, 0, 0]), *samples("score", [30, 40, 30, 0])]
    worst = worst_psi(canary, stable)
    assert worst == psi(cumulative([50, 0, 50, 0]), cumulative([0, 100, 0, 0]))
