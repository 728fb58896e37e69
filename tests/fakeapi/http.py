"""The HTTP side: a threaded HTTP/1.1 server on 127.0.0.1, one thread per connection.

Keep-alive matters (both urllib3 and aiohttp pool connections) and so does chunked transfer
encoding, which is how watch streams arrive. A watch holds its connection's thread, waiting on
its queue; it also wakes now and then to notice a client that went away, so that closed
watches do not pile up as open ones in the control API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from .api import Api, Reply, Stream
from .errors import ApiError, status_object
from .faults import RecordedRequest
from .store import Store

log = logging.getLogger(__name__)

# How often an idle watch checks whether its client is still there.
LIVENESS_CHECK_S = 0.5


class Backend(Protocol):
    api: Api
    store: Store

    @property
    def bookmark_interval(self) -> float | None: ...

    def admit(self, request: RecordedRequest) -> ApiError | None:
        """Logs a request; returns the failure injected for it, if any."""
        ...

    def answered(self, request: RecordedRequest, code: int) -> None: ...


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, backend: Backend) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-request, which clients may do
        log.exception("fake API server: failure on a connection from %s", client_address)

    def close_connections(self) -> None:
        """Ends idle keep-alive connections, whose threads would otherwise wait forever."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def _server(self) -> Server:
        return cast(Server, self.server)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle's algorithm the second waits
        # for the client's delayed ACK, adding 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return b""
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return body
            body += self.rfile.read(size)
            self.rfile.readline()

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._body()
        backend = self._server.backend
        request = RecordedRequest(
            method,
            url.path,
            query,
            self.headers.get("Content-Type") or "",
            self.headers.get("User-Agent") or "",
        )
        outcome: Reply | Stream
        try:
            injected = backend.admit(request)
            if injected is not None:
                raise injected
            outcome = backend.api.handle(
                method, url.path, query, request.content_type, body, request.user_agent
            )
        except ApiError as error:
            outcome = Reply(error.code, error.status(), error.headers)
        except Exception as error:
            # A bug in the fake must show in the test that met it, not as a hang.
            log.exception("fake API server failed on %s %s", method, self.path)
            outcome = Reply(500, status_object(500, f"fake API server error: {error!r}"))
        if isinstance(outcome, Stream):
            self._stream(outcome, request)
        else:
            self._reply(outcome, request)

    def _reply(self, reply: Reply, request: RecordedRequest) -> None:
        if isinstance(reply.body, str):
            data, content_type = reply.body.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(reply.body).encode(), "application/json"
        self._server.backend.answered(request, reply.code)
        self.send_response(reply.code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _stream(self, stream: Stream, request: RecordedRequest) -> None:
        backend = self._server.backend
        watcher = stream.watcher
        started = time.monotonic()
        deadline = started + stream.timeout if stream.timeout else None
        next_bookmark: float | None = None
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            backend.answered(request, 200)
            while True:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                interval = backend.bookmark_interval
                if not (watcher.bookmarks and interval):
                    next_bookmark = None
                elif next_bookmark is None:
                    next_bookmark = now + interval
                waits = [LIVENESS_CHECK_S]
                if deadline is not None:
                    waits.append(deadline - now)
                if next_bookmark is not None:
                    waits.append(max(next_bookmark - now, 0.0))
                try:
                    item = watcher.queue.get(timeout=min(waits))
                except queue.Empty:
                    if next_bookmark is not None and time.monotonic() >= next_bookmark:
                        backend.store.bookmark([watcher])
                        next_bookmark = None
                    elif self._client_gone():
                        self.close_connection = True
                        return
                    continue
                if item is None:
                    break
                self._chunk(item)
            self._chunk(b"")
        except OSError:
            self.close_connection = True
        finally:
            watcher.close()
            backend.store.unwatch(watcher)
