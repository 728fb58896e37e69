"""Prometheus durations and the analysis window."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.analysis.duration import analysis_window, format_duration, is_prometheus_duration
from modeldeploy.api.spec import parse_duration


@pytest.mark.parametrize(
    "text", ["1s", "30s", "1m30s", "1h", "250ms", "1h1m1s1ms", "1y", "2w", "3d", "90s", "1d12h"]
)
def test_valid_durations(text: str) -> None:
    assert is_prometheus_duration(text)


@pytest.mark.parametrize(
    "text",
    ["", "0", "0s", "0m0s", "1.5m", "30s1m", "1 m", "m", "1M", "-1s", "1m)", "1s1s", "5m]"],
)
def test_invalid_durations(text: str) -> None:
    assert not is_prometheus_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1s"),
        (60, "1m"),
        (90, "1m30s"),
        (0.25, "250ms"),
        (3661.5, "1h1m1s500ms"),
        (86400, "24h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_rounds_up_to_a_millisecond() -> None:
    assert format_duration(0.0001) == "1ms"
    assert format_duration(1.0004) == "1s1ms"


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_format_duration_needs_a_positive_number(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_duration(seconds)


@given(st.integers(min_value=1, max_value=10**10))
def test_format_duration_round_trips(milliseconds: int) -> None:
    text = format_duration(milliseconds / 1000)
    assert is_prometheus_duration(text)
    assert parse_duration(text) == pytest.approx(milliseconds / 1000)


@pytest.mark.parametrize(
    ("interval", "floor_s", "window"),
    [("30s", 60, "1m"), ("2m", 60, "2m"), ("1.5m", 30, "1m30s"), ("250ms", 0.1, "250ms")],
)
def test_analysis_window_is_the_interval_but_not_below_the_floor(
    interval: str, floor_s: float, window: str
) -> None:
    assert analysis_window(interval, floor_s) == window


def test_analysis_window_rejects_a_bad_interval() -> None:
    with pytest.raises(ValueError):
        analysis_window("soon", 60)
