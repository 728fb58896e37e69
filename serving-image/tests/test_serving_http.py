"""The Open Inference Protocol endpoints of a real server process serving a classifier."""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

import pytest
from serving_harness import Models, ServerProcess, infer_body, request, scrape

MODEL_PATHS = ["/v2/models/iris", "/v2/models/iris/versions/v1"]


def test_live_and_ready(sklearn_server: ServerProcess) -> None:
    live = sklearn_server.get("/v2/health/live")
    assert (live.status, live.json()) == (200, {"live": True})
    ready = sklearn_server.get("/v2/health/ready")
    assert (ready.status, ready.json()) == (200, {"ready": True})


def test_server_metadata(sklearn_server: ServerProcess) -> None:
    reply = sklearn_server.get("/v2")
    assert reply.status == 200
    assert reply.json()["name"] == "modeldeploy-serving"
    assert reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize("base", MODEL_PATHS)
def test_model_metadata(sklearn_server: ServerProcess, base: str) -> None:
    reply = sklearn_server.get(base)
    assert reply.status == 200
    assert reply.json() == {
        "name": "iris",
        "versions": ["v1"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }


@pytest.mark.parametrize("base", MODEL_PATHS)
def test_model_ready(sklearn_server: ServerProcess, base: str) -> None:
    reply = sklearn_server.get(f"{base}/ready")
    assert (reply.status, reply.json()) == (200, {"name": "iris", "version": "v1", "ready": True})


@pytest.mark.parametrize("base", MODEL_PATHS)
def test_infer(sklearn_server: ServerProcess, models: Models, base: str) -> None:
    rows = models.features[:3].tolist()
    reply = sklearn_server.post(f"{base}/infer", {**infer_body(rows), "id": "req-42"})
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["model_name"] == "iris"
    assert body["model_version"] == "v1"
    assert body["id"] == "req-42"
    label, proba = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "INT64",
        "shape": [3],
        "data": models.classifier.predict(models.features[:3]).tolist(),
    }
    assert proba["name"] == "probabilities"
    assert proba["shape"] == [3, 3]
    expected = models.classifier.predict_proba(models.features[:3]).ravel().tolist()
    assert proba["data"] == pytest.approx(expected)


def test_infer_with_flat_data_and_selected_output(
    sklearn_server: ServerProcess, models: Models
) -> None:
    row = models.features[5].tolist()
    body = {
        "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}],
        "outputs": [{"name": "label"}],
        "parameters": {"custom": 1},
    }
    reply = sklearn_server.post("/v2/models/iris/infer", body)
    assert reply.status == 200, reply.body
    assert reply.json()["outputs"] == [
        {
            "name": "label",
            "datatype": "INT64",
            "shape": [1],
            "data": models.classifier.predict([row]).tolist(),
        }
    ]
    assert "id" not in reply.json()


def test_request_id_is_echoed_or_generated(sklearn_server: ServerProcess) -> None:
    given = sklearn_server.get("/v2/health/live", headers={"x-request-id": "trace-abc.123"})
    assert given.headers["x-request-id"] == "trace-abc.123"
    generated = sklearn_server.get("/v2/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    # Ids that could corrupt a log line are replaced rather than repeated.
    odd = sklearn_server.get("/v2/health/live", headers={"x-request-id": "a b"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v2/models/mnist", "model 'mnist' not found"),
        ("GET", "/v2/models/mnist/ready", "model 'mnist' not found"),
        ("POST", "/v2/models/mnist/infer", "model 'mnist' not found"),
        ("GET", "/v2/models/iris/versions/v9", "model 'iris' has no version 'v9'"),
        ("GET", "/v2/models/iris/versions/v9/ready", "has no version 'v9'"),
        ("POST", "/v2/models/iris/versions/v9/infer", "has no version 'v9'"),
        ("GET", "/v2/models/iris/explain", "no such endpoint"),
        ("GET", "/v1/models/iris", "no such endpoint"),
    ],
)
def test_unknown_models_versions_and_routes_are_404(
    sklearn_server: ServerProcess, method: str, path: str, message: str
) -> None:
    body = infer_body([[1.0, 2.0, 3.0, 4.0]]) if method == "POST" else None
    reply = request(sklearn_server.port, method, path, body)
    assert reply.status == 404
    assert message in reply.json()["error"]


def test_wrong_methods_are_405(sklearn_server: ServerProcess) -> None:
    reply = sklearn_server.get("/v2/models/iris/infer")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"
    assert "error" in reply.json()
    assert sklearn_server.post("/v2/health/ready", b"").status == 405


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"", "request body is not valid JSON"),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0] * 4}]},
            "unexpected input 'x'; the model takes 'input-0'",
        ),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        (infer_body([[1.0, 2.0, 3.0]]), "input 'input-0' has shape [1, 3]; the model expects"),
        (infer_body([[1.0, 2.0, 3.0, 4.0]], datatype="FP32"), "datatype FP32; the model expects"),
        (infer_body([[0.0] * 4] * 65), "65 rows, more than the limit of 64"),
        (
            {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": [1] * 4}]},
            "needs 8 values, 'data' has 4",
        ),
        (
            {
                "inputs": [
                    {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ["a"] * 4}
                ]
            },
            "holds values that are not FP64",
        ),
    ],
)
def test_bad_requests_are_400_with_the_reason(
    sklearn_server: ServerProcess, body: bytes | dict[str, Any], message: str
) -> None:
    reply = sklearn_server.post("/v2/models/iris/infer", body)
    assert reply.status == 400
    assert message in reply.json()["error"]


def test_body_over_the_limit_is_413(sklearn_server: ServerProcess) -> None:
    # 64 KiB limit in this fixture.
    body = json.dumps(infer_body([[1.0, 2.0, 3.0, 4.0]])).encode() + b" " * 70_000
    reply = sklearn_server.post("/v2/models/iris/infer", body)
    assert reply.status == 413
    assert "larger than 65536 bytes" in reply.json()["error"]


def test_chunked_body_over_the_limit_is_413(sklearn_server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sklearn_server.port, timeout=10)
    try:
        chunks = (b" " * 8192 for _ in range(10))
        connection.request("POST", "/v2/models/iris/infer", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert "larger than" in json.loads(response.read())["error"]
    finally:
        connection.close()


def test_chunked_body_within_the_limit_is_served(sklearn_server: ServerProcess) -> None:
    payload = json.dumps(infer_body([[1.0, 2.0, 3.0, 4.0]])).encode()
    connection = http.client.HTTPConnection("127.0.0.1", sklearn_server.port, timeout=10)
    try:
        chunks = iter([payload[:10], payload[10:]])
        connection.request("POST", "/v2/models/iris/infer", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    finally:
        connection.close()


def test_keep_alive_connection_survives_errors(sklearn_server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sklearn_server.port, timeout=10)
    good = json.dumps(infer_body([[1.0, 2.0, 3.0, 4.0]])).encode()
    try:
        for body, status in [(b"x" * 70_000, 413), (b"nope", 400), (good, 200), (good, 200)]:
            connection.request("POST", "/v2/models/iris/infer", body=body)
            response = connection.getresponse()
            response.read()
            assert response.status == status
    finally:
        connection.close()


def test_metrics_exposition(sklearn_server: ServerProcess, models: Models) -> None:
    model = {"model": "iris", "version": "v1", "revision": "rev-a"}

    def value(samples: dict[Any, float], name: str, **labels: str) -> float:
        key = (name, frozenset({**model, **labels}.items()))
        assert key in samples, f"{key} not exposed"
        return float(samples[key])

    predictions = "modeldeploy_serving_prediction_value"
    before = scrape(sklearn_server)
    sklearn_server.post("/v2/models/iris/infer", infer_body(models.features[:4].tolist()))
    sklearn_server.post("/v2/models/iris/infer", b"{not json")
    sklearn_server.get("/v2/models/iris")
    after = scrape(sklearn_server)

    def delta(name: str, **labels: str) -> float:
        # A counter's series appears with its first increment: absent before means 0.
        key = (name, frozenset({**model, **labels}.items()))
        return value(after, name, **labels) - float(before.get(key, 0.0))

    requests = "modeldeploy_serving_requests_total"
    assert delta(requests, operation="infer", code="200") == 1
    assert delta(requests, operation="infer", code="400") == 1
    assert delta(requests, operation="metadata", code="200") == 1
    assert value(after, requests, operation="ready", code="200") >= 1
    durations = "modeldeploy_serving_request_duration_seconds"
    assert delta(f"{durations}_count", operation="infer") == 2
    assert delta(f"{durations}_bucket", operation="infer", le="10.0") == 2
    assert value(after, f"{durations}_bucket", operation="infer", le="0.001") >= 0
    assert value(after, "modeldeploy_serving_model_info", format="sklearn") == 1
    assert value(after, "modeldeploy_serving_ready") == 1
    assert value(after, "modeldeploy_serving_model_load_seconds") > 0
    # Four rows: four labels and twelve class probabilities, each row's summing to 1.
    assert delta(f"{predictions}_count", output="label") == 4
    assert delta(f"{predictions}_count", output="probabilities") == 12
    assert delta(f"{predictions}_bucket", output="probabilities", le="1.0") == 12
    assert delta(f"{predictions}_bucket", output="probabilities", le="0.0") == 0
    assert delta(f"{predictions}_sum", output="probabilities") == pytest.approx(4)
    expected_labels = models.classifier.predict(models.features[:4])
    assert delta(f"{predictions}_sum", output="label") == pytest.approx(expected_labels.sum())
    assert not any(name.endswith("_created") for name, _ in after)


def test_logs_are_json_lines_with_request_ids(sklearn_server: ServerProcess) -> None:
    sklearn_server.post(
        "/v2/models/iris/infer", b"{not json", headers={"x-request-id": "log-check-1"}
    )
    access = sklearn_server.wait_for_log(lambda r: r.get("request_id") == "log-check-1")
    records = sklearn_server.log_records()
    assert all("unparsed" not in r for r in records), [r for r in records if "unparsed" in r]
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert access["status"] == 400
    assert access["endpoint"] == "infer"
    assert access["path"] == "/v2/models/iris/infer"
    assert "not valid JSON" in access["error"]
    assert access["duration_ms"] >= 0
