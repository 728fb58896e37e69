"""Where check values come from: the provider interface every metrics backend implements, and
the reading of a PromQL result that any Prometheus-compatible backend shares."""

from __future__ import annotations

from typing import Any, Protocol


class ProviderError(Exception):
    """The value could not be measured: the message says why, fit for a status field."""


class MetricsProvider(Protocol):
    def query(self, promql: str) -> float | None:
        """The single value of an instant query, or None when the result is empty.

        NaN and infinities are returned as they are; judging them is the verdict's job.
        Raises ProviderError when the backend is unreachable, too slow, rejects the query,
        or returns more than one series.
        """
        ...

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """Every series of an instant vector query: (its labels, its value)."""
        ...

    def is_online(self) -> bool: ...


def vector_samples(result: Any) -> list[tuple[dict[str, str], float]]:
    if not isinstance(result, list) or any(not isinstance(s, dict) for s in result):
        raise ProviderError(f"query result is not an instant vector: {result!r:.100}")
    if any("value" not in series for series in result):
        raise ProviderError("query returned a range vector; an instant vector was expected")
    return [
        (
            {str(k): str(v) for k, v in series.get("metric", {}).items()},
            _sample_value(series["value"]),
        )
        for series in result
    ]


def _sample_value(sample: Any) -> float:
    try:
        return float(sample[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise ProviderError(f"query result is not a number: {sample!r:.100}") from None


def _labels(series: dict[str, Any]) -> str:
    metric = series.get("metric") or {}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def single_value(result: Any) -> float | None:
    """The value in the `data.result` of an instant query, whatever its result type.

    A vector is a list of series objects; a scalar (and a string) is one [time, "value"] pair.
    """
    if not isinstance(result, list):
        raise ProviderError(f"unexpected query result: {result!r:.100}")
    if not result:
        return None
    if not isinstance(result[0], dict):
        return _sample_value(result)
    if len(result) > 1:
        shown = ", ".join(_labels(series) for series in result[:3])
        more = ", ..." if len(result) > 3 else ""
        raise ProviderError(
            f"query returned {len(result)} series, a check needs one: aggregate it, "
            f"e.g. with sum() or max(); got {shown}{more}"
        )
    series = result[0]
    if "value" not in series:
        raise ProviderError("query returned a range vector; a check needs an instant value")
    return _sample_value(series["value"])
