"""The Prometheus provider: reading query results, and failing clearly over HTTP."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from modeldeploy.analysis.providers import MetricsProvider, PrometheusProvider, ProviderError
from modeldeploy.analysis.providers.base import single_value


def vector(*values: str) -> list[dict[str, Any]]:
    return [{"metric": {"i": str(i)}, "value": [1700000000.0, v]} for i, v in enumerate(values)]


# --- reading results ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "value"),
    [
        ([], None),
        (vector("0.25"), 0.25),
        ([1700000000.0, "2"], 2.0),
        (vector("+Inf"), math.inf),
        (vector("-Inf"), -math.inf),
        (vector("1e-300"), 1e-300),
    ],
)
def test_single_value(result: Any, value: float | None) -> None:
    assert single_value(result) == value


def test_nan_is_returned_for_the_verdict_to_judge() -> None:
    value = single_value(vector("NaN"))
    assert value is not None and math.isnan(value)


def test_several_series_are_an_error_that_names_them() -> None:
    with pytest.raises(ProviderError, match=r"returned 4 series.*sum\(\)") as raised:
        single_value(vector("1", "2", "3", "4"))
    assert '{i="0"}' in str(raised.value) and "..." in str(raised.value)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([{"metric": {}, "values": [[1, "1"]]}], "range vector"),
        ([1700000000.0, "hello"], "not a number"),
        ({"resultType": "vector"}, "unexpected"),
        ([{"metric": {}, "value": []}], "not a number"),
    ],
)
def test_unusable_results(result: Any, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        single_value(result)


def test_prometheus_provider_satisfies_the_protocol() -> None:
    provider: MetricsProvider = PrometheusProvider("http://127.0.0.1:9")
    assert provider is not None


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PrometheusProvider("http://127.0.0.1:9", timeout_s=0)


# --- over HTTP, against a scripted server ---------------------------------------------------


@dataclass
class Script:
    status: int = 200
    body: str = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}})
    delay_s: float = 0.0
    requests: list[dict[str, list[str]]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.requests.append(parse_qs(urlsplit(self.path).query))
            time.sleep(script.delay_s)
            payload = script.body.encode()
            try:
                self.send_response(script.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up waiting, which is what some tests want

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def answer(result_type: str, result: Any) -> str:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


def error(status: int, error_type: str, text: str) -> tuple[int, str]:
    return status, json.dumps({"status": "error", "errorType": error_type, "error": text})


def test_query_sends_promql_and_a_server_side_timeout(server: tuple[str, Script]) -> None:
    url, script = server
    script.body = answer("vector", vector("0.5"))
    assert PrometheusProvider(url, timeout_s=2).query('sum(up{a="b"})') == 0.5
    assert script.requests == [{"query": ['sum(up{a="b"})'], "timeout": ["2"]}]


def test_scalar_answer(server: tuple[str, Script]) -> None:
    url, script = server
    script.body = answer("scalar", [1700000000.0, "7"])
    assert PrometheusProvider(url).query("scalar(x)") == 7.0


def test_empty_answer(server: tuple[str, Script]) -> None:
    url, _ = server
    assert PrometheusProvider(url).query("absent_metric") is None


@pytest.mark.parametrize(
    ("status", "error_type", "text", "message"),
    [
        (400, "bad_data", '1:5: parse error: unexpected "}"', "rejected the query: 1:5: parse"),
        (422, "execution", "many-to-many matching", "rejected the query: many-to-many"),
        (503, "timeout", "query timed out in expression evaluation", "timed out: query timed"),
        (503, "unavailable", "not ready", "answered HTTP 503 (unavailable): not ready"),
    ],
)
def test_prometheus_errors_are_explained(
    server: tuple[str, Script], status: int, error_type: str, text: str, message: str
) -> None:
    url, script = server
    script.status, script.body = error(status, error_type, text)
    with pytest.raises(ProviderError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PrometheusProvider(url).query("x")
    assert len(script.requests) == 1  # an error answer is not retried


def test_non_json_error_body(server: tuple[str, Script]) -> None:
    url, script = server
    script.status, script.body = 502, "<html>Bad Gateway</html>"
    with pytest.raises(ProviderError, match="answered HTTP 502: <html>Bad Gateway"):
        PrometheusProvider(url).query("x")


def test_non_json_success_body(server: tuple[str, Script]) -> None:
    url, script = server
    script.body = "<html>login</html>"
    with pytest.raises(ProviderError, match="non-JSON"):
        PrometheusProvider(url).query("x")


def test_json_without_result(server: tuple[str, Script]) -> None:
    url, script = server
    script.body = json.dumps({"status": "success"})
    with pytest.raises(ProviderError, match=r"without data\.result"):
        PrometheusProvider(url).query("x")


def test_slow_prometheus_times_out(server: tuple[str, Script]) -> None:
    url, script = server
    script.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"did not answer within 0\.3s"):
        PrometheusProvider(url, timeout_s=0.3).query("x")
    assert time.monotonic() - started < 1.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_unreachable_prometheus() -> None:
    provider = PrometheusProvider(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError, match="is unreachable: Connection refused"):
        provider.query("x")
    assert not provider.is_online()


def test_credentials_stay_out_of_messages() -> None:
    provider = PrometheusProvider(f"http://user:secret@127.0.0.1:{free_port()}/prom/")
    with pytest.raises(ProviderError) as raised:
        provider.query("x")
    assert "secret" not in str(raised.value)
    assert "http://127.0.0.1:" in str(raised.value)


def test_is_online(server: tuple[str, Script]) -> None:
    url, script = server
    script.body = answer("vector", vector("1"))
    assert PrometheusProvider(url).is_online()
    assert script.requests[-1]["query"] == ["vector(1)"]
    script.status, script.body = error(503, "unavailable", "starting")
    assert not PrometheusProvider(url).is_online()
