"""Population stability index between two prediction histograms, per output.

PSI = Σ (c - s) · ln(c / s) over the buckets, with c and s each revision's share of
predictions in the bucket. 0 means the same distribution; by common rule of thumb below 0.1 is
stable, 0.1 to 0.25 a moderate shift, above 0.25 a large one. It sees what a mean cannot: a
model that answers the same classes in other proportions, or spreads its scores wider around
the same mean.

The serving image exports cumulative buckets (`le`), so a bucket's count is the difference of
two neighbours; PromQL cannot take it, hence this module, fed with the raw bucket samples.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

# A share never goes below this, so that a bucket empty on one side counts as a large shift
# instead of an infinity.
SHARE_FLOOR = 1e-4

Sample = tuple[dict[str, str], float]


def psi(canary: dict[float, float], stable: dict[float, float]) -> float | None:
    """PSI of two cumulative histograms (upper bound → cumulative count); None when either
    saw no predictions or they share no bucket."""
    bounds = sorted(canary.keys() & stable.keys())
    canary_counts = _counts([canary[b] for b in bounds])
    stable_counts = _counts([stable[b] for b in bounds])
    canary_total, stable_total = sum(canary_counts), sum(stable_counts)
    if not bounds or canary_total <= 0 or stable_total <= 0:
        return None
    index = 0.0
    for c_count, s_count in zip(canary_counts, stable_counts, strict=True):
        c = max(c_count / canary_total, SHARE_FLOOR)
        s = max(s_count / stable_total, SHARE_FLOOR)
        index += (c - s) * math.log(c / s)
    return index


def worst_psi(canary: Iterable[Sample], stable: Iterable[Sample]) -> float | None:
    """The largest PSI over the outputs both revisions report; None when none can be told."""
    canary_by_output, stable_by_output = _histograms(canary), _histograms(stable)
    found = [
        value
        for output in canary_by_output.keys() & stable_by_output.keys()
        if (value := psi(canary_by_output[output], stable_by_output[output])) is not None
    ]
    return max(found, default=None)


def _counts(cumulative: list[float]) -> list[float]:
    counts, before = [], 0.0
    for total in cumulative:
        # Counter resets and rounding in increase() can make a cumulative count dip.
        counts.append(max(total - before, 0.0))
        before = max(before, total)
    return counts


def _histograms(samples: Iterable[Sample]) -> dict[str, dict[float, float]]:
    histograms: dict[str, dict[float, float]] = defaultdict(dict)
    for labels, value in samples:
        bound = labels.get("le")
        if bound is None or not math.isfinite(value):
            continue
        histograms[labels.get("output", "")][float(bound)] = value
    return histograms
