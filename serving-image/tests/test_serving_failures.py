"""Models that fail, artifacts that are wrong, and configuration that overrides the artifact."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serving_harness import Models, ServerProcess, infer_body, metric


@pytest.fixture(scope="module")
def sqrt_server(
    models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("sqrt-server"), MODEL_URI=models.sqrt_pipeline_path.as_uri()
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def wait_for_load_failure(server: ServerProcess, timeout: float = 30.0) -> dict[str, Any]:
    server.wait_live()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = server.get("/v2/health/ready")
        assert reply.status == 503
        body: dict[str, Any] = reply.json()
        if "failed to load" in body["error"]:
            return body
        time.sleep(0.05)
    raise AssertionError("the load failure was never reported:\n" + server.logs())


def test_model_that_raises_gives_500_for_that_request_only(
    sqrt_server: ServerProcess,
) -> None:
    ok = sqrt_server.post("/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]]))
    assert ok.status == 200
    bad = sqrt_server.post(
        "/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0], [-1.0, 2.0, 3.0, 4.0]])
    )
    assert bad.status == 500
    error = bad.json()["error"]
    assert error.startswith("model 'iris' failed to predict: ValueError:")
    assert "NaN" in error
    assert sqrt_server.post("/v2/models/iris/infer", infer_body([[0.0] * 4])).status == 200
    assert sqrt_server.get("/v2/health/ready").status == 200
    metrics = sqrt_server.get("/metrics").body.decode()
    assert 'code="500",model="iris",operation="infer"' in metrics


def test_sha256_mismatch_never_becomes_ready(models: Models, tmp_path: Path) -> None:
    wrong = "0" * 64
    server = ServerProcess(tmp_path, MODEL_URI=models.classifier_path.as_uri(), MODEL_SHA256=wrong)
    try:
        server.wait_live()
        body = wait_for_load_failure(server)
        assert body["ready"] is False
        assert f"sha256 mismatch for iris.joblib: expected {wrong}" in body["error"]
        for _ in range(5):
            assert server.get("/v2/health/ready").status == 503
            time.sleep(0.1)
        model_ready = server.get("/v2/models/iris/ready")
        assert model_ready.status == 503
        assert "sha256 mismatch" in model_ready.json()["error"]
        infer = server.post("/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]]))
        assert infer.status == 503
        assert "sha256 mismatch" in infer.json()["error"]
        assert server.get("/v2/models/iris").status == 503
        assert server.get("/v2/health/live").status == 200
        assert metric(server, "modeldeploy_serving_ready") == 0
        error = server.wait_for_log(lambda r: r.get("level") == "error")
        assert "sha256 mismatch" in error["reason"]
    finally:
        assert server.stop() == 0


def test_artifact_of_the_wrong_format_is_reported(models: Models, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, MODEL_URI=models.onnx_path.as_uri())
    try:
        body = wait_for_load_failure(server)
        assert "cannot load" in body["error"]
        assert "as a joblib/pickle file" in body["error"]
    finally:
        server.stop()


def test_missing_file_is_reported(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, MODEL_URI=(tmp_path / "absent.joblib").as_uri())
    try:
        assert "does not exist" in wait_for_load_failure(server)["error"]
    finally:
        server.stop()


def test_configured_schema_wins_over_the_artifact(models: Models, tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        MODEL_URI=models.classifier_path.as_uri(),
        MODEL_INPUT_SCHEMA=json.dumps([{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]),
        MODEL_OUTPUT_SCHEMA=json.dumps(
            [
                {"name": "class", "datatype": "INT32", "shape": [-1]},
                {"name": "scores", "datatype": "FP32", "shape": [-1, 3]},
            ]
        ),
    )
    try:
        server.wait_ready()
        metadata = server.get("/v2/models/iris").json()
        assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
        assert [o["name"] for o in metadata["outputs"]] == ["class", "scores"]
        rows = models.features[:2].tolist()
        reply = server.post("/v2/models/iris/infer", infer_body(rows, "features", "FP32"))
        assert reply.status == 200, reply.body
        outputs = {o["name"]: o for o in reply.json()["outputs"]}
        assert outputs["class"]["datatype"] == "INT32"
        assert outputs["scores"]["datatype"] == "FP32"
        assert server.post("/v2/models/iris/infer", infer_body(rows)).status == 400
    finally:
        server.stop()


def test_configured_schema_that_contradicts_the_model_is_reported(
    models: Models, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path,
        MODEL_URI=models.classifier_path.as_uri(),
        MODEL_INPUT_SCHEMA=json.dumps([{"name": "x", "datatype": "FP64", "shape": [-1, 7]}]),
    )
    try:
        body = wait_for_load_failure(server)
        assert "declares 7 features but the model was fitted on 4" in body["error"]
    finally:
        server.stop()
