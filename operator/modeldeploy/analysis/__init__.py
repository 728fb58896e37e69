"""Canary analysis: Prometheus checks that gate each rollout step.

`run_checks` measures a list of checks through a `MetricsProvider` and returns one
`CheckResult` each; `aggregate` folds them into the step's `Verdict`.
"""

from modeldeploy.analysis.builtins import BUILTIN_CHECKS, BuiltinCheck, UnknownCheck
from modeldeploy.analysis.duration import analysis_window, format_duration, is_prometheus_duration
from modeldeploy.analysis.providers.base import MetricsProvider, ProviderError
from modeldeploy.analysis.run import QueryContext, Side, run_checks
from modeldeploy.analysis.template import (
    VARIABLES,
    MissingValue,
    TemplateError,
    UnknownVariable,
    render,
)
from modeldeploy.analysis.verdict import Bounds, CheckResult, Verdict, aggregate, evaluate

__all__ = [
    "BUILTIN_CHECKS",
    "VARIABLES",
    "Bounds",
    "BuiltinCheck",
    "CheckResult",
    "MetricsProvider",
    "MissingValue",
    "ProviderError",
    "QueryContext",
    "Side",
    "TemplateError",
    "UnknownCheck",
    "UnknownVariable",
    "Verdict",
    "aggregate",
    "analysis_window",
    "evaluate",
    "format_duration",
    "is_prometheus_duration",
    "render",
    "run_checks",
]
