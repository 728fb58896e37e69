"""An ONNX model served by a real server process."""

from __future__ import annotations

import numpy as np
import pytest
from serving_harness import Models, ServerProcess, infer_body


def test_metadata_comes_from_the_graph(onnx_server: ServerProcess) -> None:
    reply = onnx_server.get("/v2/models/iris/versions/2")
    assert reply.status == 200
    assert reply.json() == {
        "name": "iris",
        "versions": ["2"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ],
    }


def test_infer_matches_the_sklearn_model(onnx_server: ServerProcess, models: Models) -> None:
    rows = models.features[:32].astype(np.float32)
    reply = onnx_server.post(
        "/v2/models/iris/versions/2/infer", infer_body(rows.tolist(), "X", "FP32")
    )
    assert reply.status == 200, reply.body
    label, proba = reply.json()["outputs"]
    assert label["shape"] == [32]
    assert label["data"] == models.classifier.predict(rows).tolist()
    assert proba["datatype"] == "FP32"
    assert proba["shape"] == [32, 3]
    expected = models.classifier.predict_proba(rows).ravel()
    assert proba["data"] == pytest.approx(expected.tolist(), abs=1e-5)


def test_fp64_is_refused_for_an_fp32_graph(onnx_server: ServerProcess) -> None:
    reply = onnx_server.post("/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]], "X"))
    assert reply.status == 400
    assert reply.json() == {
        "error": "input 'X' has datatype FP64; the model expects FP32",
    }


def test_unknown_version_of_an_onnx_model(onnx_server: ServerProcess) -> None:
    reply = onnx_server.get("/v2/models/iris/versions/v1/ready")
    assert reply.status == 404
