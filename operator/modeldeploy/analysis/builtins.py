"""Built-in checks over the serving image's own metrics, by check name.

Every selector names the namespace and the revision: the revision tells canary from stable
pods of one ModelDeployment, and the namespace (added by Prometheus service discovery) keeps
other namespaces' deployments of an identical spec out.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.spec import CheckSpec

REQUESTS_TOTAL = "modeldeploy_serving_requests_total"
REQUEST_DURATION_BUCKET = "modeldeploy_serving_request_duration_seconds_bucket"
PREDICTION_VALUE_SUM = "modeldeploy_serving_prediction_value_sum"
PREDICTION_VALUE_COUNT = "modeldeploy_serving_prediction_value_count"

# Keeps the relative drift finite when the stable mean is 0.
DRIFT_EPSILON = 1e-9


def _selector(metric: str, *matchers: str, revision: str = "revision") -> str:
    labels = ['namespace="{{namespace}}"', f'revision="{{{{{revision}}}}}"', *matchers]
    return metric + "{" + ",".join(labels) + "}"


def _rate(metric: str, *matchers: str, revision: str = "revision") -> str:
    return f"rate({_selector(metric, *matchers, revision=revision)}[{{{{interval}}}}])"


_INFER = 'operation="infer"'
_SERVER_ERROR = 'code=~"5.."'


def _latency_quantile(quantile: float) -> str:
    buckets = _rate(REQUEST_DURATION_BUCKET, _INFER)
    return f"histogram_quantile({quantile}, sum by (le) ({buckets}))"


def _mean_prediction(revision: str) -> str:
    total = _rate(PREDICTION_VALUE_SUM, revision=revision)
    count = _rate(PREDICTION_VALUE_COUNT, revision=revision)
    return f"(sum by (output) ({total}) / sum by (output) ({count}))"


# With errors but no 5xx series yet the numerator would be empty and the check would see no
# data for a perfectly healthy canary; `or vector(0)` makes that a 0. No requests at all still
# gives no data (an empty denominator) or NaN (0/0).
_ERROR_RATE = (
    f"(sum({_rate(REQUESTS_TOTAL, _INFER, _SERVER_ERROR)}) or vector(0))"
    f" / sum({_rate(REQUESTS_TOTAL, _INFER)})"
)

# Per output, |mean canary - mean stable| / max(|mean stable|, ε); the worst output counts.
# Pooling outputs first would hide drift that moves two outputs in opposite directions, as the
# class probabilities of a classifier do.
_PREDICTION_DRIFT = (
    f"max(abs({_mean_prediction('canary_revision')} - {_mean_prediction('stable_revision')})"
    f" / clamp_min(abs({_mean_prediction('stable_revision')}), {DRIFT_EPSILON:g}))"
)


@dataclass(frozen=True)
class BuiltinCheck:
    name: str
    query: str
    description: str
    compares_with_stable: bool = False
    """The query already measures canary against stable, so maxIncrease makes no sense."""


BUILTIN_CHECKS: dict[str, BuiltinCheck] = {
    check.name: check
    for check in (
        BuiltinCheck(
            "error-rate",
            _ERROR_RATE,
            "share of infer requests answered with a 5xx status over the window",
        ),
        BuiltinCheck(
            "latency-p95",
            _latency_quantile(0.95),
            "95th percentile of infer request duration over the window, in seconds",
        ),
        BuiltinCheck(
            "latency-p99",
            _latency_quantile(0.99),
            "99th percentile of infer request duration over the window, in seconds",
        ),
        BuiltinCheck(
            "prediction-drift",
            _PREDICTION_DRIFT,
            "relative difference of the mean prediction value, canary against stable, over "
            "the window; the largest over all outputs",
            compares_with_stable=True,
        ),
        BuiltinCheck(
            "request-count",
            f"sum(increase({_selector(REQUESTS_TOTAL, _INFER)}[{{{{interval}}}}]))",
            "infer requests over the window; use it with min",
        ),
    )
}

REQUEST_COUNT_QUERY = BUILTIN_CHECKS["request-count"].query


class UnknownCheck(ValueError):
    def __init__(self, name: str) -> None:
        known = ", ".join(BUILTIN_CHECKS)
        super().__init__(f"check {name!r} is not a built-in ({known}); set query for custom PromQL")


def query_template(check: CheckSpec) -> str:
    """The PromQL template of `check`: its own `query`, or the built-in of its name."""
    if check.query is not None:
        return check.query
    builtin = BUILTIN_CHECKS.get(check.name)
    if builtin is None:
        raise UnknownCheck(check.name)
    return builtin.query


def compares_with_stable(check: CheckSpec) -> bool:
    builtin = BUILTIN_CHECKS.get(check.name)
    return check.query is None and builtin is not None and builtin.compares_with_stable
