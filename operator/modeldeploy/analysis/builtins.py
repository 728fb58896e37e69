"""Built-in checks over the serving image's own metrics, by check name.

Every selector names the namespace and the revision: the revision tells canary from stable
pods of one ModelDeployment, and the namespace (added by Prometheus service discovery) keeps
other namespaces' deployments of an identical spec out.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.api.spec import CheckSpec

REQUESTS_TOTAL = "modeldeploy_serving_requests_total"
REQUEST_DURATION_BUCKET = "modeldeploy_serving_request_duration_seconds_bucket"
PREDICTION_VALUE_SUM = "modeldeploy_serving_prediction_value_sum"
PREDICTION_VALUE_COUNT = "modeldeploy_serving_prediction_value_count"
PREDICTION_VALUE_BUCKET = "modeldeploy_serving_prediction_value_bucket"
SHADOW_REQUESTS_TOTAL = "modeldeploy_serving_shadow_requests_total"
SHADOW_LABELS_COMPARED = "modeldeploy_serving_shadow_labels_compared_total"
SHADOW_LABELS_AGREED = "modeldeploy_serving_shadow_labels_agreed_total"
SHADOW_VALUES_COMPARED = "modeldeploy_serving_shadow_values_compared_total"
SHADOW_ABS_DIFF = "modeldeploy_serving_shadow_abs_diff_total"

# Keeps the relative drift finite when the stable mean is 0.
DRIFT_EPSILON = 1e-9


def _selector(metric: str, *matchers: str, revision: str = "revision") -> str:
    labels = ['namespace="{{namespace}}"', f'revision="{{{{{revision}}}}}"', *matchers]
    return metric + "{" + ",".join(labels) + "}"


def _rate(metric: str, *matchers: str, revision: str = "revision") -> str:
    return f"rate({_selector(metric, *matchers, revision=revision)}[{{{{interval}}}}])"


def _increase(metric: str) -> str:
    return f"increase({_selector(metric)}[{{{{interval}}}}])"


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

# Per output, |mean canary - mean stable| / max(|mean canary|, |mean stable|, ε); the worst
# output counts. Pooling outputs first would hide drift that moves two outputs in opposite
# directions, as the class probabilities of a classifier do. Dividing by the larger of the two
# keeps the value in [0, 2] (1 when one mean is 0): dividing by the stable's alone made a
# stable mean near 0 (a rare class, or a short window) read as a drift of millions.
_CANARY_MEAN = f"abs({_mean_prediction('canary_revision')})"
_STABLE_MEAN = f"abs({_mean_prediction('stable_revision')})"
_PREDICTION_DRIFT = (
    f"max(abs({_mean_prediction('canary_revision')} - {_mean_prediction('stable_revision')})"
    f" / clamp_min(({_CANARY_MEAN} > {_STABLE_MEAN}) or {_STABLE_MEAN}, {DRIFT_EPSILON:g}))"
)


def _shadow_rate(metric: str, *matchers: str) -> str:
    """Copies the stable's pods made to the canary: counted on the stable, named after both."""
    return _rate(
        metric, 'candidate_revision="{{canary_revision}}"', *matchers, revision="stable_revision"
    )


_SHADOW_AGREEMENT = (
    f"sum({_shadow_rate(SHADOW_LABELS_AGREED)}) / sum({_shadow_rate(SHADOW_LABELS_COMPARED)})"
)
_SHADOW_MEAN_ABS_DIFF = (
    f"sum({_shadow_rate(SHADOW_ABS_DIFF)}) / sum({_shadow_rate(SHADOW_VALUES_COMPARED)})"
)
_CANDIDATE_ERROR = 'outcome="candidate_error"'
_ANSWERED_OR_NOT = 'outcome=~"compared|candidate_error"'
_SHADOW_ERROR_RATE = (
    f"sum({_shadow_rate(SHADOW_REQUESTS_TOTAL, _CANDIDATE_ERROR)})"
    f" / sum({_shadow_rate(SHADOW_REQUESTS_TOTAL, _ANSWERED_OR_NOT)})"
)


@dataclass(frozen=True)
class BuiltinCheck:
    name: str
    query: str
    description: str
    compares_with_stable: bool = False
    """The query already measures canary against stable, so maxIncrease makes no sense."""
    histograms: bool = False
    """The query gives one histogram per revision (its buckets by output and `le`), asked
    for canary and stable alike; the value is their population stability index."""


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
            "the window, as a share of the larger of the two; the largest over all outputs",
            compares_with_stable=True,
        ),
        BuiltinCheck(
            "prediction-psi",
            f"sum by (output, le) ({_increase(PREDICTION_VALUE_BUCKET)})",
            "population stability index of the prediction values, canary against stable, over "
            "the window; the largest over all outputs (above 0.25 is a large shift)",
            compares_with_stable=True,
            histograms=True,
        ),
        BuiltinCheck(
            "request-count",
            f"sum(increase({_selector(REQUESTS_TOTAL, _INFER)}[{{{{interval}}}}]))",
            "infer requests over the window; use it with min",
        ),
        BuiltinCheck(
            "shadow-agreement",
            _SHADOW_AGREEMENT,
            "share of label outputs on which the canary answered the stable's shadow copies as "
            "the stable did; use it with min",
            compares_with_stable=True,
        ),
        BuiltinCheck(
            "shadow-error-rate",
            _SHADOW_ERROR_RATE,
            "share of the stable's shadow copies the canary did not answer with 200",
            compares_with_stable=True,
        ),
        BuiltinCheck(
            "shadow-mean-abs-diff",
            _SHADOW_MEAN_ABS_DIFF,
            "mean absolute difference of the canary's floating-point outputs from the stable's, "
            "on the stable's shadow copies",
            compares_with_stable=True,
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


def compares_histograms(check: CheckSpec) -> bool:
    builtin = BUILTIN_CHECKS.get(check.name)
    return check.query is None and builtin is not None and builtin.histograms


def compares_with_stable(check: CheckSpec) -> bool:
    builtin = BUILTIN_CHECKS.get(check.name)
    return check.query is None and builtin is not None and builtin.compares_with_stable
