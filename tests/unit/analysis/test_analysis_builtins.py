"""Built-in queries: shape, selectors, and (with promtool) what Prometheus makes of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from promql_lexer import tokens

from modeldeploy.analysis.builtins import (
    BUILTIN_CHECKS,
    REQUEST_COUNT_QUERY,
    UnknownCheck,
    compares_with_stable,
    query_template,
)
from modeldeploy.analysis.run import QueryContext, Side
from modeldeploy.analysis.template import VARIABLES, render, variables_used
from modeldeploy.api import spec
from modeldeploy.api.spec import CheckSpec

CONTEXT = QueryContext(
    namespace="ns",
    name="fraud",
    model="fraud-model",
    version="v2",
    canary_revision="canary1",
    stable_revision="stable1",
    window="1m",
)
NAMES = sorted(BUILTIN_CHECKS)
# A selector in a template: its matchers may hold {{variable}} placeholders.
SELECTOR = re.compile(r"(modeldeploy_serving_[a-z_]+)\{((?:[^{}]|\{\{\w+\}\})*)\}")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


def rendered(name: str) -> str:
    return render(BUILTIN_CHECKS[name].query, CONTEXT.variables(Side.CANARY))


def test_the_built_ins() -> None:
    assert NAMES == [
        "error-rate",
        "latency-p95",
        "latency-p99",
        "prediction-drift",
        "prediction-psi",
        "request-count",
        "shadow-agreement",
        "shadow-error-rate",
        "shadow-mean-abs-diff",
    ]
    assert BUILTIN_CHECKS["request-count"].query == REQUEST_COUNT_QUERY


@pytest.mark.parametrize("name", NAMES)
def test_brackets_balance_outside_strings(name: str) -> None:
    code = "".join(t.text for t in tokens(rendered(name)) if t.kind == "code")
    pairs = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []
    for char in code:
        if char in "({[":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], code
    assert not stack


@pytest.mark.parametrize("name", NAMES)
def test_every_selector_names_namespace_and_revision(name: str) -> None:
    query = BUILTIN_CHECKS[name].query
    selectors = SELECTOR.findall(query)
    assert selectors
    for _metric, matchers in selectors:
        assert 'namespace="{{namespace}}"' in matchers
        assert re.search(r'revision="\{\{(revision|canary_revision|stable_revision)\}\}"', matchers)
        assert "track" not in matchers
    assert variables_used(query) <= set(VARIABLES)
    assert "interval" in variables_used(query)


@pytest.mark.parametrize("name", NAMES)
def test_rendered_queries_select_the_context(name: str) -> None:
    query = rendered(name)
    assert "{{" not in query
    assert 'namespace="ns"' in query
    assert 'revision="canary1"' in query
    assert "[1m]" in query


def test_metric_names_are_the_serving_image_ones() -> None:
    metrics = {metric for q in BUILTIN_CHECKS.values() for metric, _ in SELECTOR.findall(q.query)}
    assert metrics == {
        "modeldeploy_serving_requests_total",
        "modeldeploy_serving_request_duration_seconds_bucket",
        "modeldeploy_serving_prediction_value_sum",
        "modeldeploy_serving_prediction_value_count",
        "modeldeploy_serving_prediction_value_bucket",
        "modeldeploy_serving_shadow_requests_total",
        "modeldeploy_serving_shadow_labels_compared_total",
        "modeldeploy_serving_shadow_labels_agreed_total",
        "modeldeploy_serving_shadow_values_compared_total",
        "modeldeploy_serving_shadow_abs_diff_total",
    }


def test_request_metrics_count_only_predictions() -> None:
    for name in ("error-rate", "latency-p95", "latency-p99", "request-count"):
        for _metric, matchers in SELECTOR.findall(BUILTIN_CHECKS[name].query):
            assert 'operation="infer"' in matchers


def test_drift_uses_both_revisions() -> None:
    used = variables_used(BUILTIN_CHECKS["prediction-drift"].query)
    assert {"canary_revision", "stable_revision"} <= used
    assert "revision" not in used


def test_query_template() -> None:
    assert query_template(CheckSpec(name="error-rate", max=1)) == BUILTIN_CHECKS["error-rate"].query
    assert query_template(CheckSpec(name="error-rate", query="vector(1)", max=1)) == "vector(1)"
    with pytest.raises(UnknownCheck, match="set query"):
        # The API refuses such a check; the lookup refuses it too.
        query_template(CheckSpec.model_construct(name="nope", max=1))


def test_compares_with_stable() -> None:
    assert compares_with_stable(CheckSpec(name="prediction-drift", max=1))
    assert not compares_with_stable(CheckSpec(name="prediction-drift", query="vector(1)", max=1))
    assert not compares_with_stable(CheckSpec(name="error-rate", max=1))


# --- promtool -------------------------------------------------------------------------------


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_parses_every_built_in(tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "builtins",
                "rules": [
                    {"record": f"check:{name.replace('-', '_')}", "expr": rendered(name)}
                    for name in NAMES
                ],
            }
        ]
    }
    # JSON is YAML, so no YAML writer is needed.
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    outcome = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert f"{len(NAMES)} rules found" in outcome.stdout


HOSTILE_VALUES = ['x"} or vector(1) #', "a\\", 'q"\n) or up', "tab\there", "\x00\x7f", "é✓"]


@needs_promtool
def test_promtool_parses_built_ins_rendered_with_hostile_values(tmp_path: Path) -> None:
    exprs = [
        render(BUILTIN_CHECKS[name].query, {**CONTEXT.variables(Side.CANARY), "revision": value})
        for name in NAMES
        for value in HOSTILE_VALUES
    ]
    rules = {
        "groups": [
            {"name": "g", "rules": [{"record": f"r{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    outcome = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{selector}}}", "values": values}


CANARY = {"namespace": "ns", "revision": "canary1"}
STABLE = {"namespace": "ns", "revision": "stable1"}
# Every 15s: 3 good and 1 failed prediction on the canary.
REQUESTS = [
    series("modeldeploy_serving_requests_total", "0+3x40", **CANARY, operation="infer", code="200"),
    series("modeldeploy_serving_requests_total", "0+1x40", **CANARY, operation="infer", code="503"),
    # Not predictions, not this namespace, not this revision: all must be left out.
    series(
        "modeldeploy_serving_requests_total", "0+50x40", **CANARY, operation="health", code="500"
    ),
    series(
        "modeldeploy_serving_requests_total",
        "0+50x40",
        namespace="other",
        revision="canary1",
        operation="infer",
        code="500",
    ),
    series(
        "modeldeploy_serving_requests_total", "0+50x40", **STABLE, operation="infer", code="500"
    ),
]
# Every 15s: 10 requests, 5 within 0.1s, 4 more within 0.25s, the last within 0.5s.
LATENCY = [
    series(
        "modeldeploy_serving_request_duration_seconds_bucket",
        f"0+{count}x40",
        **CANARY,
        operation="infer",
        le=le,
    )
    for le, count in (("0.1", 5), ("0.25", 9), ("0.5", 10), ("1", 10), ("+Inf", 10))
]
# Every 15s, 10 predictions per output; means: canary a 0.3, b 0.7; stable a 0.25, b 0.75.
# Pooled over outputs both means are 0.5: only a per-output comparison sees the drift.
PREDICTIONS = [
    series(f"modeldeploy_serving_prediction_value_{part}", f"0+{step}x40", **rev, output=output)
    for rev, output, mean in (
        (CANARY, "a", 0.3),
        (CANARY, "b", 0.7),
        (STABLE, "a", 0.25),
        (STABLE, "b", 0.75),
    )
    for part, step in (("sum", mean * 10), ("count", 10))
]


def expression_test(name: str, expected: float | None) -> dict[str, object]:
    # Rounding keeps promtool's exact comparison from tripping over the last float bit.
    return {
        "expr": f"round({rendered(name)}, 0.0001)",
        "eval_time": "5m",
        "exp_samples": [] if expected is None else [{"labels": "{}", "value": expected}],
    }


def run_promtool_tests(
    tmp_path: Path, input_series: list[dict[str, str]], cases: list[dict[str, object]]
) -> None:
    suite = {
        "rule_files": [],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": input_series, "promql_expr_test": cases}],
    }
    (tmp_path / "suite.yml").write_text(json.dumps(suite))
    outcome = promtool("test", "rules", "suite.yml", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


@needs_promtool
def test_built_ins_compute_what_they_promise(tmp_path: Path) -> None:
    run_promtool_tests(
        tmp_path,
        REQUESTS + LATENCY + PREDICTIONS,
        [
            expression_test("error-rate", 0.25),
            expression_test("request-count", 16),
            expression_test("latency-p95", 0.375),
            expression_test("latency-p99", 0.475),
            # Output a: |0.3 - 0.25| / 0.3; b: |0.7 - 0.75| / 0.75.
            expression_test("prediction-drift", 0.1667),
        ],
    )


@needs_promtool
def test_error_rate_is_zero_without_any_5xx_series(tmp_path: Path) -> None:
    run_promtool_tests(tmp_path, REQUESTS[:1], [expression_test("error-rate", 0)])


@needs_promtool
def test_built_ins_have_no_data_without_canary_series(tmp_path: Path) -> None:
    unrelated = REQUESTS[2:] + [s for s in PREDICTIONS if "stable1" in s["series"]]
    run_promtool_tests(tmp_path, unrelated, [expression_test(n, None) for n in NAMES])


def test_the_api_names_exactly_the_builtins() -> None:
    assert tuple(BUILTIN_CHECKS) == spec.BUILTIN_CHECK_NAMES
    comparing = tuple(c.name for c in BUILTIN_CHECKS.values() if c.compares_with_stable)
    assert comparing == spec.STABLE_COMPARING_CHECKS


@needs_promtool
def test_prediction_drift_stays_bounded_when_the_stable_mean_is_zero(tmp_path: Path) -> None:
    means = ((CANARY, 0.36), (STABLE, 0.0))
    zero_stable = [
        series(f"modeldeploy_serving_prediction_value_{part}", f"0+{step}x40", **rev, output="a")
        for rev, mean in means
        for part, step in (("sum", mean * 10), ("count", 10))
    ]
    run_promtool_tests(tmp_path, zero_stable, [expression_test("prediction-drift", 1)])
