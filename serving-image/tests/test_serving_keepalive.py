"""Which revision and pod answered, and how long a keep-alive connection lasts."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from serving_harness import Models, ServerProcess, infer_body

from modeldeploy_serving.app import ServingApp
from modeldeploy_serving.config import Settings
from modeldeploy_serving.keepalive import ConnectionBudget
from modeldeploy_serving.metrics import ServingMetrics
from modeldeploy_serving.model import ServedModel

LIMIT = 5


def test_the_nth_response_of_a_connection_is_its_last() -> None:
    budget = ConnectionBudget(3)
    a, b = ("10.244.0.7", 40000), ("10.244.0.7", 40001)
    assert [budget.last_response(a) for _ in range(3)] == [False, False, True]
    # Each connection counts on its own; a closed one starts again from nothing.
    assert [budget.last_response(b) for _ in range(2)] == [False, False]
    assert [budget.last_response(a) for _ in range(3)] == [False, False, True]
    assert budget.last_response(b) is True
    assert budget.tracked() == 0


def test_no_limit_and_no_peer_never_close() -> None:
    assert not any(ConnectionBudget(0).last_response(("h", 1)) for _ in range(1000))
    assert not any(ConnectionBudget(1).last_response(None) for _ in range(10))
    assert ConnectionBudget(1).last_response(("h", 1)) is True


def test_the_table_of_counts_stays_bounded() -> None:
    budget = ConnectionBudget(100, max_tracked=50)
    for port in range(10_000):
        budget.last_response(("10.0.0.1", port))
    assert budget.tracked() == 50
    # The most recently used connections are the ones kept.
    for _ in range(98):
        budget.last_response(("10.0.0.1", 9_999))
    assert budget.last_response(("10.0.0.1", 9_999)) is True


@pytest.fixture(scope="module")
def limited_server(
    models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("limited-server"),
        MODEL_URI=models.classifier_path.as_uri(),
        MODEL_REVISION="rev-k",
        SERVING_MAX_REQUESTS_PER_CONNECTION=str(LIMIT),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def raw_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def read_response(sock: socket.socket) -> tuple[dict[str, str], bool]:
    """Headers of one response on a raw socket, and whether the server then closed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before a response"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    remaining = int(headers["content-length"]) - len(rest)
    while remaining > 0:
        chunk = sock.recv(remaining)
        assert chunk
        remaining -= len(chunk)
    closed = False
    if headers.get("connection") == "close":
        sock.settimeout(5)
        closed = sock.recv(1) == b""
    return headers, closed


def test_every_response_names_the_revision_and_the_pod(limited_server: ServerProcess) -> None:
    for reply in (
        limited_server.get("/v2/health/ready"),
        limited_server.post("/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]])),
        limited_server.get("/nowhere"),
    ):
        assert reply.headers["modeldeploy-revision"] == "rev-k"
        assert reply.headers["modeldeploy-pod"] == socket.gethostname()


def test_the_server_ends_a_connection_after_its_limit(limited_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", limited_server.port), timeout=10) as sock:
        seen = []
        for _ in range(LIMIT):
            sock.sendall(raw_request("/v2/health/live"))
            headers, closed = read_response(sock)
            seen.append((headers.get("connection"), closed))
    assert seen == [(None, False)] * (LIMIT - 1) + [("close", True)]


def test_a_pooled_client_reconnects_and_nothing_fails(limited_server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", limited_server.port, timeout=10)
    body = json.dumps(infer_body([[1.0, 2.0, 3.0, 4.0]]))
    ports = []
    try:
        for _ in range(3 * LIMIT + 2):
            connection.request("POST", "/v2/models/iris/infer", body=body)
            assert connection.sock is not None
            ports.append(connection.sock.getsockname()[1])
            response = connection.getresponse()
            response.read()
            assert response.status == 200
    finally:
        connection.close()
    # http.client opens a new connection after a `Connection: close`, as pooling clients do.
    runs = [ports[i : i + LIMIT] for i in range(0, len(ports), LIMIT)]
    assert all(len(set(run)) == 1 for run in runs), ports
    assert len(set(ports)) == 4, ports


async def call(app: ServingApp, path: str, peer: tuple[str, int]) -> dict[bytes, bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": peer}
    await app(scope, receive, send)
    return dict(messages[0]["headers"])


def no_model() -> ServedModel:
    raise AssertionError("liveness needs no model; none is loaded")


def test_while_draining_every_response_ends_its_connection() -> None:
    settings = Settings.from_env(
        {
            "MODEL_NAME": "iris",
            "MODEL_VERSION": "v1",
            "MODEL_URI": "s3://bucket/model.joblib",
            "MODEL_FORMAT": "sklearn",
            "MODEL_REVISION": "rev-d",
        }
    )
    assert settings.max_requests_per_connection == 100
    metrics = ServingMetrics("iris", "v1", "rev-d", "sklearn", settings.prediction_buckets)
    app = ServingApp(settings, metrics, loader=no_model)

    async def scenario() -> None:
        peer = ("10.244.0.9", 51000)
        before = await call(app, "/v2/health/live", peer)
        assert b"connection" not in before
        assert before[b"modeldeploy-revision"] == b"rev-d"
        app.begin_drain()
        during = await call(app, "/v2/health/live", peer)
        assert during[b"connection"] == b"close"

    asyncio.run(scenario())
