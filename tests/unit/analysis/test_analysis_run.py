"""run_checks against an in-memory stand-in for Prometheus: queries issued and results made."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from promql_lexer import tokens

from modeldeploy.analysis.providers import MetricsProvider, ProviderError
from modeldeploy.analysis.run import QueryContext, Side, run_checks
from modeldeploy.analysis.verdict import Verdict, aggregate
from modeldeploy.api.spec import CheckSpec

AT = "2026-01-01T12:00:00Z"
CONTEXT = QueryContext(
    namespace="ns",
    name="fraud",
    model="fraud-model",
    version="v2",
    canary_revision="canary1",
    stable_revision="stable1",
    window="1m",
    stable_version="v1",
)
NO_STABLE = QueryContext(
    namespace="ns",
    name="fraud",
    model="fraud-model",
    version="v2",
    canary_revision="canary1",
    stable_revision=None,
    window="1m",
)

Answer = float | None | ProviderError


class FakeProvider:
    """Answers a query with the first rule whose every substring it contains; else no data."""

    def __init__(self, rules: list[tuple[tuple[str, ...], Answer]] | None = None) -> None:
        self.rules = rules or []
        self.vectors: list[tuple[tuple[str, ...], list[tuple[dict[str, str], float]]]] = []
        self.queries: list[str] = []

    def query(self, promql: str) -> float | None:
        self.queries.append(promql)
        for needles, answer in self.rules:
            if all(needle in promql for needle in needles):
                if isinstance(answer, ProviderError):
                    raise answer
                return answer
        return None

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        self.queries.append(promql)
        for needles, answer in self.vectors:
            if all(needle in promql for needle in needles):
                return answer
        return []

    def is_online(self) -> bool:
        return True


def check(name: str, **fields: object) -> CheckSpec:
    return CheckSpec.model_validate({"name": name, **fields})


def refused_check(name: str, **fields: object) -> CheckSpec:
    """A check the API refuses, as an object stored before a refusing schema would carry it."""
    return CheckSpec.model_construct(name=name, query=None, **fields)


CANARY = 'revision="canary1"'
STABLE = 'revision="stable1"'


def test_fake_provider_satisfies_the_protocol() -> None:
    provider: MetricsProvider = FakeProvider()
    assert provider.is_online()


def test_context_variables_per_side() -> None:
    canary, stable = CONTEXT.variables(Side.CANARY), CONTEXT.variables(Side.STABLE)
    assert (canary["revision"], canary["version"]) == ("canary1", "v2")
    assert (stable["revision"], stable["version"]) == ("stable1", "v1")
    for side in (canary, stable):
        assert side["canary_revision"] == "canary1"
        assert side["stable_revision"] == "stable1"
        assert side["interval"] == "1m"


def test_passing_and_failing_built_ins() -> None:
    provider = FakeProvider(
        [
            (("modeldeploy_serving_requests_total", 'code=~"5.."'), 0.25),
            (("histogram_quantile(0.95",), 0.2),
        ]
    )
    results = run_checks(
        [check("error-rate", max=0.01), check("latency-p95", max=0.5)], CONTEXT, provider, AT
    )
    assert [r.verdict for r in results] == [Verdict.FAIL, Verdict.PASS]
    assert results[0].message == "error-rate 0.250 > max 0.01"
    assert all(r.measured_at == AT for r in results)
    assert aggregate(results) is Verdict.FAIL
    for query in provider.queries:
        assert 'namespace="ns"' in query
        assert CANARY in query
        assert "[1m]" in query
        assert STABLE not in query


def test_max_increase_queries_canary_and_stable() -> None:
    provider = FakeProvider(
        [(("histogram_quantile(0.99", CANARY), 0.15), (("histogram_quantile(0.99", STABLE), 0.12)]
    )
    [result] = run_checks([check("latency-p99", maxIncrease=0.1)], CONTEXT, provider, AT)
    assert (result.verdict, result.value, result.stable_value) == (Verdict.FAIL, 0.15, 0.12)
    assert result.bound == "maxIncrease 10% over stable 0.120"
    assert len(provider.queries) == 2
    assert CANARY in provider.queries[0] and STABLE in provider.queries[1]


def test_absolute_bound_does_not_query_stable() -> None:
    provider = FakeProvider([(("histogram_quantile",), 0.1)])
    run_checks([check("latency-p95", max=1)], CONTEXT, provider, AT)
    assert len(provider.queries) == 1


def test_max_increase_without_a_stable_revision_is_inconclusive() -> None:
    provider = FakeProvider([(("histogram_quantile",), 0.1)])
    [result] = run_checks([check("latency-p95", maxIncrease=0.1)], NO_STABLE, provider, AT)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.message == "latency-p95: no stable revision to compare with"


def test_drift_compares_canary_with_stable_in_one_query() -> None:
    provider = FakeProvider([(("modeldeploy_serving_prediction_value_sum",), 0.3)])
    [result] = run_checks([check("prediction-drift", max=0.1)], CONTEXT, provider, AT)
    assert result.verdict is Verdict.FAIL
    [query] = provider.queries
    assert CANARY in query and STABLE in query


def test_drift_without_a_stable_revision_is_inconclusive() -> None:
    provider = FakeProvider()
    [result] = run_checks([check("prediction-drift", max=0.1)], NO_STABLE, provider, AT)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no stable revision" in result.message
    assert provider.queries == []


def test_drift_refuses_max_increase() -> None:
    [result] = run_checks(
        [refused_check("prediction-drift", max_increase=0.1)], CONTEXT, FakeProvider(), AT
    )
    assert result.verdict is Verdict.ERROR
    assert "maxIncrease does not apply to prediction-drift" in result.message


def test_provider_error_becomes_an_error_result_and_others_still_run() -> None:
    provider = FakeProvider(
        [
            (("histogram_quantile",), ProviderError("Prometheus at http://p did not answer")),
            (("increase(",), 42.0),
        ]
    )
    results = run_checks(
        [check("latency-p95", max=1), check("request-count", min=10)], CONTEXT, provider, AT
    )
    assert results[0].verdict is Verdict.ERROR
    assert results[0].message == "Prometheus at http://p did not answer"
    assert results[0].bound == "max 1"
    assert results[1].verdict is Verdict.PASS


def test_unknown_built_in_is_an_error() -> None:
    [result] = run_checks([refused_check("accuracy", min=0.9)], CONTEXT, FakeProvider(), AT)
    assert result.verdict is Verdict.ERROR
    assert "'accuracy' is not a built-in" in result.message
    assert "query" in result.message


def test_custom_query_is_rendered_and_judged() -> None:
    custom = check(
        "queue-depth",
        query='max(queue{namespace="{{namespace}}",app="{{ name }}",v="{{version}}"})',
        max=100,
    )
    provider = FakeProvider([(("queue{",), 150.0)])
    [result] = run_checks([custom], CONTEXT, provider, AT)
    assert result.verdict is Verdict.FAIL
    assert provider.queries == ['max(queue{namespace="ns",app="fraud",v="v2"})']


def test_custom_query_overrides_a_built_in_name() -> None:
    provider = FakeProvider([(("vector(0.5)",), 0.5)])
    [result] = run_checks([check("error-rate", query="vector(0.5)", max=1)], CONTEXT, provider, AT)
    assert result.verdict is Verdict.PASS
    assert provider.queries == ["vector(0.5)"]


def test_custom_query_with_unknown_variable_is_an_error_naming_it() -> None:
    [result] = run_checks(
        [check("x", query='up{pod="{{pod}}"}', max=1)], CONTEXT, FakeProvider(), AT
    )
    assert result.verdict is Verdict.ERROR
    assert "'pod'" in result.message


def test_custom_query_with_bare_variable_is_an_error() -> None:
    [result] = run_checks(
        [check("x", query="up{revision={{revision}}}", max=1)], CONTEXT, FakeProvider(), AT
    )
    assert result.verdict is Verdict.ERROR
    assert "quoted" in result.message


def test_custom_max_increase_needs_the_revision_variable() -> None:
    custom = check("x", query='sum(up{rev="{{canary_revision}}"})', maxIncrease=0.1)
    [result] = run_checks([custom], CONTEXT, FakeProvider(), AT)
    assert result.verdict is Verdict.ERROR
    assert "{{revision}}" in result.message


def test_custom_max_increase_renders_version_per_side() -> None:
    custom = check("x", query='sum(up{rev="{{revision}}",v="{{version}}"})', maxIncrease=0.5)
    provider = FakeProvider([(('v="v2"',), 1.0), (('v="v1"',), 1.0)])
    [result] = run_checks([custom], CONTEXT, provider, AT)
    assert result.verdict is Verdict.PASS
    assert provider.queries == [
        'sum(up{rev="canary1",v="v2"})',
        'sum(up{rev="stable1",v="v1"})',
    ]


def test_stable_version_unknown_is_an_error_that_says_so() -> None:
    custom = check("x", query='sum(up{rev="{{revision}}",v="{{version}}"})', maxIncrease=0.5)
    context = QueryContext(**{**CONTEXT.__dict__, "stable_version": None})
    [result] = run_checks([custom], context, FakeProvider([((), 1.0)]), AT)
    assert result.verdict is Verdict.ERROR
    assert "'version'" in result.message and "stable" in result.message


def test_bad_window_is_an_error() -> None:
    context = QueryContext(**{**CONTEXT.__dict__, "window": "1.5m"})
    [result] = run_checks([check("error-rate", max=0.1)], context, FakeProvider(), AT)
    assert result.verdict is Verdict.ERROR
    assert "1.5m" in result.message


def test_no_data_is_inconclusive() -> None:
    [result] = run_checks([check("error-rate", max=0.1)], CONTEXT, FakeProvider(), AT)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.message == "error-rate: no data"


def test_injection_through_context_values_stays_inside_strings() -> None:
    hostile = 'x"} or vector(1) #'
    context = QueryContext(**{**CONTEXT.__dict__, "namespace": hostile})
    provider = FakeProvider()
    run_checks([check("request-count", min=1)], context, provider, AT)
    [query] = provider.queries
    strings = [t.text for t in tokens(query) if t.kind == "string"]
    assert strings == [hostile, "canary1", "infer"]
    assert all(t.kind != "comment" for t in tokens(query))


def test_no_checks_means_no_queries_and_a_pass() -> None:
    provider = FakeProvider()
    assert run_checks([], CONTEXT, provider, AT, min_requests=10) == []
    assert provider.queries == []
    assert aggregate([]) is Verdict.PASS


# --- minimum traffic ------------------------------------------------------------------------

CHECKS = [check("error-rate", max=0.01), check("latency-p95", maxIncrease=0.2)]


def test_too_few_requests_makes_every_check_inconclusive() -> None:
    provider = FakeProvider([(("increase(",), 3.0), ((), 0.0)])
    results = run_checks(CHECKS, CONTEXT, provider, AT, min_requests=10)
    assert [r.verdict for r in results] == [Verdict.INCONCLUSIVE] * 2
    assert {r.message for r in results} == {"too few requests: 3 < 10"}
    assert len(provider.queries) == 1
    assert "increase(modeldeploy_serving_requests_total{" in provider.queries[0]
    assert CANARY in provider.queries[0] and 'operation="infer"' in provider.queries[0]


def test_no_traffic_data_is_too_few_requests() -> None:
    results = run_checks(CHECKS, CONTEXT, FakeProvider(), AT, min_requests=10)
    assert {r.message for r in results} == {"too few requests: no data < 10"}


def test_enough_requests_runs_the_checks() -> None:
    provider = FakeProvider([(("increase(",), 10.0), ((), 0.0)])
    results = run_checks(CHECKS, CONTEXT, provider, AT, min_requests=10)
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.PASS]
    assert len(provider.queries) == 1 + 1 + 2


def test_failing_request_count_makes_every_check_an_error() -> None:
    provider = FakeProvider([(("increase(",), ProviderError("Prometheus is down"))])
    results = run_checks(CHECKS, CONTEXT, provider, AT, min_requests=10)
    assert [r.verdict for r in results] == [Verdict.ERROR] * 2
    assert {r.message for r in results} == {"counting requests: Prometheus is down"}


def test_a_broken_check_is_an_error_even_with_too_few_requests() -> None:
    provider = FakeProvider([(("increase(",), 0.0)])
    results = run_checks(
        [refused_check("nonsense", max=1), *CHECKS], CONTEXT, provider, AT, min_requests=10
    )
    assert [r.verdict for r in results] == [Verdict.ERROR, *[Verdict.INCONCLUSIVE] * 2]


# --- properties -----------------------------------------------------------------------------

answers = st.one_of(st.none(), st.floats(), st.builds(ProviderError, st.text(max_size=20)))
built_in_checks = st.sampled_from(
    [
        check("error-rate", max=0.01),
        check("latency-p95", max=0.5, maxIncrease=0.2),
        check("latency-p99", maxIncrease=0.2),
        check("prediction-drift", max=0.1),
        check("request-count", min=5),
        check("custom", query='sum(x{r="{{revision}}"})', min=0, max=1, maxIncrease=0),
    ]
)


class ScriptedProvider:
    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.calls = 0

    def query(self, promql: str) -> float | None:
        answer = self.answers[self.calls % len(self.answers)]
        self.calls += 1
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        return []

    def is_online(self) -> bool:
        return True


@given(
    checks=st.lists(built_in_checks, max_size=6),
    script=st.lists(answers, min_size=1, max_size=8),
    min_requests=st.integers(min_value=0, max_value=20),
)
def test_run_checks_never_raises_and_never_passes_on_missing_data(
    checks: list[CheckSpec], script: list[Answer], min_requests: int
) -> None:
    results = run_checks(checks, CONTEXT, ScriptedProvider(script), AT, min_requests)
    assert [r.name for r in results] == [c.name for c in checks]
    for result in results:
        if result.verdict is Verdict.PASS:
            assert result.value is not None and not math.isnan(result.value)
        if result.verdict is Verdict.ERROR:
            assert result.value is None


@pytest.mark.parametrize("verdict", list(Verdict))
def test_verdict_values_are_what_the_status_uses(verdict: Verdict) -> None:
    assert verdict.value in {"Pass", "Fail", "Inconclusive", "Error"}


def test_prediction_psi_compares_both_revisions_histograms() -> None:
    def buckets(revision: str, counts: list[float]) -> tuple[tuple[str, ...], Any]:
        running, series = 0.0, []
        for bound, count in zip(["0", "1", "2", "+Inf"], counts, strict=True):
            running += count
            series.append(({"output": "label", "le": bound}, running))
        return (f'revision="{revision}"', "prediction_value_bucket"), series

    provider = FakeProvider()
    provider.vectors = [buckets("c1", [50, 0, 50, 0]), buckets("s1", [0, 100, 0, 0])]
    check = CheckSpec(name="prediction-psi", max=0.25)
    context = QueryContext("ns", "m", "iris", "v2", "c1", "s1", "1m", "v1")
    [result] = run_checks([check], context, provider, "2026-01-01T00:00:00Z")
    assert result.verdict == Verdict.FAIL
    assert result.value is not None and result.value > 0.25

    provider.vectors = [buckets("c1", [0, 100, 0, 0]), buckets("s1", [0, 100, 0, 0])]
    [result] = run_checks([check], context, provider, "2026-01-01T00:00:00Z")
    assert result.verdict == Verdict.PASS and result.value == 0.0

    no_stable = QueryContext("ns", "m", "iris", "v2", "c1", None, "1m")
    [result] = run_checks([check], no_stable, provider, "2026-01-01T00:00:00Z")
    assert result.verdict == Verdict.INCONCLUSIVE
