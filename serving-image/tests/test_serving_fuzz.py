"""The HTTP surface of a real server process under bad input: bytes that are no JSON, JSON of
every wrong shape and type, infer bodies that are nearly right, deep nesting, bodies over the
limit, clients that stall. Never a 5xx for bad input, never a crash, memory bounded.

`SERVING_FUZZ_CASES` sets how many bodies are sent (hypothesis prints the failing one and its
seed); `SERVING_FUZZ_REPORT` names a JSON file for the counts (`make bench-faults`).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_harness import ServerProcess

pytestmark = pytest.mark.timeout(1800)

CASES = int(os.environ.get("SERVING_FUZZ_CASES", "400"))
REPORT = os.environ.get("SERVING_FUZZ_REPORT")
MEMORY_GROWTH_LIMIT_MB = 64

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
)
json_value = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=40,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input-0", "x", ""]) | st.text(max_size=6),
        "shape": st.lists(st.integers(-3, 9), max_size=4) | json_value,
        "datatype": st.sampled_from(
            ["FP64", "FP32", "FP16", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "fp64", "nope"]
        ),
        "data": st.lists(st.floats(-10, 10) | st.integers(-9, 9), max_size=12)
        | st.lists(st.lists(st.floats(-10, 10), max_size=5), max_size=4)
        | json_value,
    },
    optional={"parameters": json_value},
)
infer_like = st.fixed_dictionaries(
    {},
    optional={
        "inputs": st.lists(tensor, max_size=3) | json_value,
        "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}), max_size=3)
        | json_value,
        "id": json_value,
        "parameters": json_value,
    },
)


def _deep(depth: int) -> bytes:
    return b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"


def _over_limit(rows: int) -> bytes:
    row = "[" + ",".join(["1.5"] * 4) + "]"
    data = ",".join([row] * rows)
    tensor = {"name": "input-0", "shape": [rows, 4], "datatype": "FP64"}
    return (json.dumps({"inputs": [tensor]})[:-3] + f', "data": [{data}]}}]}}').encode()


bodies = st.one_of(
    st.binary(max_size=300),
    json_value.map(lambda v: json.dumps(v).encode()),
    infer_like.map(lambda v: json.dumps(v).encode()),
    # NaN and infinities as Python's json writes them, which strict JSON does not allow.
    infer_like.map(lambda v: json.dumps(v, allow_nan=True).replace("1.5", "NaN").encode()),
    st.integers(1, 20000).map(_deep),
    st.integers(1000, 6000).map(_over_limit),
)
paths = st.sampled_from(
    [
        "/v2/models/iris/infer",
        "/v2/models/iris/infer",
        "/v2/models/iris/infer",
        "/v2/models/iris/versions/v1/infer",
        "/v2/models/other/infer",
        "/admin/shadow",
    ]
)
content_types = st.sampled_from(["application/json", "text/plain", "", "application/x-www-form"])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Client:
    """One keep-alive connection, made again whenever the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, content_type: str) -> int:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            headers = {"Content-Type": content_type} if content_type else {}
            try:
                self.connection.request("POST", path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.close()
                return response.status
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def test_bad_input_never_gets_a_5xx_nor_brings_the_server_down(
    sklearn_server: ServerProcess,
) -> None:
    pid = sklearn_server.process.pid
    client = Client(sklearn_server.port)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    # A warm-up first, so that growth measured after is growth caused by the bad input.
    for _ in range(200):
        client.post("/v2/models/iris/infer", b"{}", "application/json")
    before = rss_mb(pid)

    @settings(
        max_examples=CASES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
    @given(path=paths, body=bodies, content_type=content_types)
    def send(path: str, body: bytes, content_type: str) -> None:
        status = client.post(path, body, content_type)
        statuses[status] += 1
        if status >= 500:
            server_errors.append(f"{status} for {path} {body[:200]!r}")
        assert status < 500, server_errors[-1]

    started = time.monotonic()
    send()
    elapsed = time.monotonic() - started
    client.close()
    assert sklearn_server.process.poll() is None, "the server died"
    assert sklearn_server.get("/v2/health/ready").status == 200
    growth = rss_mb(pid) - before
    total = sum(statuses.values())
    if REPORT:
        Path(REPORT).write_text(
            json.dumps(
                {
                    "fuzz_http_cases": total,
                    "fuzz_http_5xx": sum(n for s, n in statuses.items() if s >= 500),
                    "fuzz_http_statuses": {str(k): v for k, v in sorted(statuses.items())},
                    "fuzz_http_rss_growth_mb": round(growth, 1),
                    "fuzz_http_seconds": round(elapsed, 1),
                },
                indent=2,
            )
        )
    assert growth < MEMORY_GROWTH_LIMIT_MB, f"resident memory grew {growth:.0f} MB"
    assert total >= CASES * 0.9, statuses
    # Bad input is what was sent: most of it must have been refused, not served.
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) > total / 2, statuses


def test_a_stalled_client_does_not_hold_up_the_others(sklearn_server: ServerProcess) -> None:
    stalled = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", sklearn_server.port))
        sock.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
        stalled.append(sock)
    try:
        started = time.monotonic()
        reply = sklearn_server.get("/v2/health/ready")
        assert reply.status == 200
        assert time.monotonic() - started < 1.0
    finally:
        for sock in stalled:
            sock.close()
    assert sklearn_server.process.poll() is None
