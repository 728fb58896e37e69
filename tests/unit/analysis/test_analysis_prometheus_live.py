"""The provider and the template escaping against a real, local Prometheus server.

Skipped where no Prometheus binary is installed. The server scrapes nothing; every query is
answered from PromQL alone.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_api_client import PrometheusConnect

from modeldeploy.analysis.builtins import BUILTIN_CHECKS
from modeldeploy.analysis.providers import PrometheusProvider, ProviderError
from modeldeploy.analysis.run import QueryContext, run_checks
from modeldeploy.analysis.template import render
from modeldeploy.analysis.verdict import Verdict
from modeldeploy.api.spec import CheckSpec

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert PROMETHEUS is not None
    home = tmp_path_factory.mktemp("prometheus")
    (home / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address={address}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(home / "prometheus.log").open("w"),
    )
    url = f"http://{address}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prometheus did not start:\n" + (home / "prometheus.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def provider(prometheus_url: str) -> PrometheusProvider:
    return PrometheusProvider(prometheus_url)


def test_is_online(provider: PrometheusProvider) -> None:
    assert provider.is_online()


@pytest.mark.parametrize(
    ("promql", "value"),
    [
        ("vector(0.25)", 0.25),
        ("scalar(vector(2))", 2.0),
        ("sum(vector(1) + vector(2))", 3.0),
        ("vector(1) / 0", math.inf),
        ("vector(-1) / 0", -math.inf),
        ("modeldeploy_serving_requests_total", None),
    ],
)
def test_values(provider: PrometheusProvider, promql: str, value: float | None) -> None:
    assert provider.query(promql) == value


def test_nan(provider: PrometheusProvider) -> None:
    value = provider.query("vector(0) / 0")
    assert value is not None and math.isnan(value)


def test_bad_promql_gives_prometheus_own_explanation(provider: PrometheusProvider) -> None:
    with pytest.raises(ProviderError, match=r"^Prometheus rejected the query: .*parse error"):
        provider.query("sum(rate(x[5m])")


def test_several_series(provider: PrometheusProvider) -> None:
    two = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")'
    with pytest.raises(ProviderError, match=r'returned 2 series.*a="x"'):
        provider.query(two)


def test_range_vector(provider: PrometheusProvider) -> None:
    with pytest.raises(ProviderError, match="range vector"):
        provider.query("vector(1)[1m:15s]")


def test_string_result(provider: PrometheusProvider) -> None:
    with pytest.raises(ProviderError, match="not a number"):
        provider.query('"hello"')


def test_built_ins_run_and_find_no_data(provider: PrometheusProvider) -> None:
    context = QueryContext("ns", "fraud", "fraud-model", "v2", "canary1", "stable1", "1m")
    checks = [CheckSpec(name=name, max=1) for name in BUILTIN_CHECKS]
    results = run_checks(checks, context, provider, "2026-01-01T00:00:00Z")
    assert [(r.name, r.verdict) for r in results] == [
        (name, Verdict.INCONCLUSIVE) for name in BUILTIN_CHECKS
    ]


# absent() answers with the labels of its selector's equality matchers, so it hands back the
# label value exactly as Prometheus parsed it from the rendered query.
ROUND_TRIP = "absent(nonexistent_metric{v=\"{{revision}}\", w='{{name}}'})"


def parsed_labels(url: str, value: str) -> dict[str, str]:
    promql = render(ROUND_TRIP, {"revision": value, "name": value})
    [series] = PrometheusConnect(url).custom_query(promql)
    labels: dict[str, str] = series["metric"]
    return labels


@pytest.mark.parametrize(
    "value",
    ['x"} or vector(1) #', "back\\slash", "new\nline", "quote'single", "\x00\x1b\x7f", "é✓🙂"],
)
def test_prometheus_reads_back_hostile_values(prometheus_url: str, value: str) -> None:
    assert parsed_labels(prometheus_url, value) == {"v": value, "w": value}


@settings(max_examples=40, deadline=None)
@given(value=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30))
def test_prometheus_reads_back_any_value(prometheus_url: str, value: str) -> None:
    assert parsed_labels(prometheus_url, value) == {"v": value, "w": value}
