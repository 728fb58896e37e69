"""Serves the admission webhook over HTTPS: every replica answers, leader or not, from the
same watch caches the reconciles read.

The certificate and key come from the directory the chart mounts its webhook Secret into.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from modeldeploy.policy.select import Policy
from modeldeploy.shell import metrics
from modeldeploy.shell.admission import review

log = logging.getLogger("modeldeploy.shell.webhook")

PATH = "/validate"
MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own request limit


class AdmissionServer:
    def __init__(
        self,
        port: int,
        cert_dir: Path,
        policies: Callable[[], Iterable[Policy]],
        namespace_labels: Callable[[str], Mapping[str, str]],
        host: str = "0.0.0.0",
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
        handler = _handler(policies, namespace_labels)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="admission-webhook", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("admission webhook listening on port %d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(
    policies: Callable[[], Iterable[Policy]],
    namespace_labels: Callable[[str], Mapping[str, str]],
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # decisions are logged below, as JSON like every other line

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self._send(404, {"message": f"no such path; reviews go to {PATH}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                self._send(400, {"message": "an AdmissionReview body is required"})
                return
            try:
                request = json.loads(self.rfile.read(length))
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                self._send(400, {"message": f"the body is not an AdmissionReview: {error}"})
                return
            answer = review(request, policies, namespace_labels)
            _record(request, answer)
            self._send(200, answer)

    return Handler


def _record(request: dict[str, Any], answer: dict[str, Any]) -> None:
    inner = request.get("request") or {}
    kind = str((inner.get("kind") or {}).get("kind", ""))
    response = answer["response"]
    allowed = bool(response["allowed"])
    metrics.ADMISSION_REVIEWS.labels(kind, str(allowed).lower()).inc()
    if not allowed:
        log.info(
            "refused at admission: %s",
            response["status"]["message"],
            extra={"namespace": inner.get("namespace"), "object": inner.get("name")},
        )
