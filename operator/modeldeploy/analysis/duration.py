"""Durations as PromQL range selectors accept them, and the analysis window built from them."""

from __future__ import annotations

import math
import re

from modeldeploy.api.spec import parse_duration

# The syntax of Prometheus 2.x (model.ParseDuration): whole numbers, each unit at most once and
# largest first. The rollout spec is more lenient ("1.5m", "30s1m"), so spec durations are
# converted rather than passed through.
_PROMETHEUS_DURATION = re.compile(
    r"(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?"
)
_UNIT_MS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def is_prometheus_duration(text: str) -> bool:
    """True for a non-zero duration a range selector accepts, such as "30s" or "1m30s"."""
    return (
        bool(text)
        and _PROMETHEUS_DURATION.fullmatch(text) is not None
        and any(c in "123456789" for c in text)
    )


def format_duration(seconds: float) -> str:
    """The Prometheus spelling of a positive number of seconds, rounded up to a millisecond."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a window must be a positive number of seconds, not {seconds}")
    remaining = math.ceil(round(seconds * 1000, 6))
    parts = []
    for unit, size in _UNIT_MS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def analysis_window(interval: str, floor_s: float) -> str:
    """The `{{interval}}` of a check: the rollout's check interval, but at least `floor_s`.

    The floor keeps rate() meaningful: over a window shorter than a few scrape intervals it
    sees one sample or none and returns nothing. Four scrape intervals is a good floor.
    """
    return format_duration(max(parse_duration(interval), floor_s))
