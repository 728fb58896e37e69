"""SIGTERM handling and the configurable response delay."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from serving_harness import Models, Reply, ServerProcess, infer_body, metric

DELAY_MS = 1500


def test_sigterm_drains_then_exits_cleanly(models: Models, tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        MODEL_URI=models.classifier_path.as_uri(),
        SERVING_RESPONSE_DELAY_MS=str(DELAY_MS),
        SERVING_DRAIN_SECONDS="1",
    )
    server.wait_ready()
    replies: dict[str, Reply] = {}
    elapsed: dict[str, float] = {}

    def infer(key: str) -> None:
        started = time.monotonic()
        replies[key] = server.post(
            "/v2/models/iris/infer", infer_body(models.features[:2].tolist())
        )
        elapsed[key] = time.monotonic() - started

    before = threading.Thread(target=infer, args=("before",))
    before.start()
    time.sleep(0.3)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.1)

    # Not ready at once, but still live and still serving while the endpoints update.
    ready = server.get("/v2/health/ready")
    assert ready.status == 503
    assert ready.json() == {"ready": False, "error": "the server is shutting down"}
    assert server.get("/v2/models/iris/ready").status == 503
    assert server.get("/v2/health/live").status == 200
    during = threading.Thread(target=infer, args=("during",))
    during.start()

    before.join(timeout=10)
    during.join(timeout=10)
    expected = models.classifier.predict(models.features[:2]).tolist()
    for key in ("before", "during"):
        assert replies[key].status == 200, key
        assert replies[key].json()["outputs"][0]["data"] == expected
        assert elapsed[key] >= DELAY_MS / 1000
    assert server.process.wait(timeout=15) == 0
    assert any("shutdown requested" in r.get("msg", "") for r in server.log_records())
    with pytest.raises(OSError):
        server.get("/v2/health/live")


def test_response_delay_applies_to_infer_only(models: Models, tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path, MODEL_URI=models.classifier_path.as_uri(), SERVING_RESPONSE_DELAY_MS="300"
    )
    try:
        server.wait_ready()
        started = time.monotonic()
        assert server.post("/v2/models/iris/infer", infer_body([[0.0] * 4])).status == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        assert server.get("/v2/health/ready").status == 200
        assert time.monotonic() - started < 0.3
    finally:
        assert server.stop() == 0


def test_requests_in_flight_counts_the_inferences_being_answered(
    models: Models, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path, MODEL_URI=models.classifier_path.as_uri(), SERVING_RESPONSE_DELAY_MS="2000"
    )
    server.wait_ready()
    in_flight = "modeldeploy_serving_requests_in_flight"
    assert metric(server, in_flight) == 0
    body = infer_body(models.features[:2].tolist())
    callers = [
        threading.Thread(target=server.post, args=("/v2/models/iris/infer", body)) for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 10
    while metric(server, in_flight) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(server, in_flight) == 2
    for caller in callers:
        caller.join(timeout=10)
    assert metric(server, in_flight) == 0
    server.stop()
