"""The ASGI application in-process: loading states, retries and draining."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_harness import Models

from modeldeploy_serving import app as app_module
from modeldeploy_serving.app import ServingApp
from modeldeploy_serving.artifacts import ArtifactError, ArtifactUnavailableError
from modeldeploy_serving.config import Settings
from modeldeploy_serving.metrics import ServingMetrics
from modeldeploy_serving.model import ServedModel
from modeldeploy_serving.runtimes import load_runtime


def make_app(loader: Callable[[], ServedModel]) -> ServingApp:
    settings = Settings.from_env(
        {
            "MODEL_NAME": "iris",
            "MODEL_VERSION": "v1",
            "MODEL_URI": "s3://bucket/model.joblib",
            "MODEL_FORMAT": "sklearn",
        }
    )
    metrics = ServingMetrics("iris", "v1", "", "sklearn", settings.prediction_buckets)
    return ServingApp(settings, metrics, loader)


async def call(app: ServingApp, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    messages: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await app(scope, receive, send)
    payload = b"".join(m.get("body", b"") for m in messages[1:])
    return messages[0]["status"], json.loads(payload) if payload else None


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


@pytest.fixture()
def classifier(models: Models) -> ServedModel:
    model = ServedModel(
        load_runtime("sklearn", str(models.classifier_path)), model_format="sklearn"
    )
    model.warm_up()
    return model


def test_unavailable_artifact_is_retried_until_it_loads(
    classifier: ServedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "_RETRY_FIRST_SECONDS", 0.05)
    attempts: list[int] = []

    def loader() -> ServedModel:
        attempts.append(1)
        if len(attempts) < 3:
            raise ArtifactUnavailableError("GET s3://bucket/model.joblib failed: timed out")
        return classifier

    async def scenario() -> None:
        app = make_app(loader)
        app.start_loading()
        await wait_until(lambda: len(attempts) >= 2)
        await wait_until(lambda: "retrying" in app.not_ready_reason)
        status, body = await call(app, "GET", "/v2/health/ready")
        assert status == 503
        assert "the model artifact is unavailable" in body["error"]
        await wait_until(lambda: app.ready)
        status, body = await call(app, "GET", "/v2/health/ready")
        assert (status, body) == (200, {"ready": True})

    asyncio.run(scenario())
    assert len(attempts) == 3


def test_permanent_failure_is_not_retried() -> None:
    attempts: list[int] = []

    def loader() -> ServedModel:
        attempts.append(1)
        raise ArtifactError("GET s3://bucket/model.joblib answered 403 AccessDenied")

    async def scenario() -> None:
        app = make_app(loader)
        app.start_loading()
        await wait_until(lambda: app.load_failed)
        status, body = await call(app, "GET", "/v2/models/iris/ready")
        assert status == 503
        assert body == {
            "name": "iris",
            "version": "v1",
            "ready": False,
            "error": "the model failed to load: "
            "GET s3://bucket/model.joblib answered 403 AccessDenied",
        }
        await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert len(attempts) == 1


def test_draining_reports_not_ready_but_keeps_serving(
    classifier: ServedModel, models: Models
) -> None:
    async def scenario() -> None:
        app = make_app(lambda: classifier)
        app.start_loading()
        await wait_until(lambda: app.ready)
        app.begin_drain()
        status, body = await call(app, "GET", "/v2/health/ready")
        assert (status, body) == (503, {"ready": False, "error": "the server is shutting down"})
        status, _ = await call(app, "GET", "/v2/health/live")
        assert status == 200
        request = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [1, 4],
                    "datatype": "FP64",
                    "data": models.features[0].tolist(),
                }
            ]
        }
        status, body = await call(
            app, "POST", "/v2/models/iris/infer", json.dumps(request).encode()
        )
        assert status == 200
        assert body["outputs"][0]["data"] == models.classifier.predict(models.features[:1]).tolist()

    asyncio.run(scenario())


def test_slow_models_predict_on_a_worker_thread(
    classifier: ServedModel, models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    threads: list[str] = []
    original = classifier.predict

    def recording(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(classifier, "predict", recording)

    async def scenario() -> None:
        app = make_app(lambda: classifier)
        app.start_loading()
        await wait_until(lambda: app.ready)
        request = json.dumps(
            {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0] * 4}]}
        ).encode()
        classifier.predict_seconds = 0.0
        assert (await call(app, "POST", "/v2/models/iris/infer", request))[0] == 200
        classifier.predict_seconds = 1.0
        assert (await call(app, "POST", "/v2/models/iris/infer", request))[0] == 200

    asyncio.run(scenario())
    assert threads[0] == "MainThread"
    assert threads[1].startswith("predict")


def test_infer_error_series_exist_at_zero_before_any_request() -> None:
    """rate() counts an increase only from a series' second sample: a 5xx series born at the
    first failure would hide it from the error-rate check for a scrape or two."""
    metrics = ServingMetrics("iris", "v1", "r1", "sklearn", (0.5,))
    samples = {
        sample.labels["code"]: sample.value
        for family in text_string_to_metric_families(metrics.render()[0].decode())
        for sample in family.samples
        if sample.name == "modeldeploy_serving_requests_total"
        and sample.labels["operation"] == "infer"
    }
    assert samples == {"200": 0.0, "500": 0.0, "503": 0.0}
