"""No HTTP client of the operator follows a redirect: a pod's or Prometheus's answer that points
elsewhere is an answer, never a second request, and what is shown of it is one short line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from modeldeploy.analysis.providers import ProviderError
from modeldeploy.analysis.providers.prometheus import PrometheusProvider
from modeldeploy.analysis.smoke import SHOWN_CHARS, _clip
from modeldeploy.shell.pod_http import DirectPodHttp, Pod


class Redirecting:
    """Answers every request with a redirect to /elsewhere, and counts what reaches it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _answer(self) -> None:
                server.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = b"moved"
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{server.port}/elsewhere")
                self.send_header("Set-Cookie", "session=s3cret")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def redirecting() -> Iterator[Redirecting]:
    running = Redirecting()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_a_pod_s_redirect_is_its_answer(redirecting: Redirecting) -> None:
    pod = Pod("ml", "iris-abc-1", "127.0.0.1")
    code, body = DirectPodHttp().request(pod, redirecting.port, "GET", "/v2/models/iris", None, 5)
    assert (code, body) == (302, "moved")
    assert redirecting.paths == ["/v2/models/iris"]


def test_prometheus_s_redirect_is_an_error_not_followed(redirecting: Redirecting) -> None:
    provider = PrometheusProvider(f"http://user:token@127.0.0.1:{redirecting.port}/prom", 5)
    with pytest.raises(ProviderError, match="answered with a redirect") as error:
        provider.query("vector(1)")
    assert "token" not in str(error.value) and "/elsewhere" not in str(error.value)
    assert len(redirecting.paths) == 1 and redirecting.paths[0].startswith("/prom/api/v1/query")


def test_what_is_shown_of_a_pod_s_answer_is_one_short_line() -> None:
    shown = _clip("line one\r\nWarning: forged\x1b[31m" + "x" * 1000)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert len(shown) == SHOWN_CHARS
