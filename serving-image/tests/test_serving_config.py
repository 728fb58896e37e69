from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from serving_harness import server_env

from modeldeploy_serving.config import DEFAULT_PREDICTION_BUCKETS, ConfigError, Settings
from modeldeploy_serving.schema import TensorSpec

BASE = {
    "MODEL_NAME": "iris",
    "MODEL_VERSION": "v1",
    "MODEL_URI": "file:///models/iris.joblib",
    "MODEL_FORMAT": "sklearn",
}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def config_error(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({k: v for k, v in {**BASE, **env}.items() if v is not None})
    return str(caught.value)


def test_defaults() -> None:
    s = settings()
    assert (s.model_name, s.model_version, s.model_format) == ("iris", "v1", "sklearn")
    assert s.model_sha256 is None
    assert s.model_revision == ""
    assert s.input_schema is None and s.output_schema is None
    assert (s.host, s.port) == ("0.0.0.0", 8080)
    assert s.max_batch_rows == 1024
    assert s.max_body_bytes == 8 * 1024 * 1024
    assert s.response_delay_ms == 0
    assert s.prediction_buckets == DEFAULT_PREDICTION_BUCKETS
    assert s.cache_dir == Path(tempfile.gettempdir()) / "modeldeploy-models"
    assert s.s3_endpoint_url is None
    assert s.workers == 1
    assert s.max_requests_per_connection == 100


def test_every_setting_is_read() -> None:
    schema = [{"name": "x", "datatype": "fp32", "shape": [-1, 3]}]
    s = settings(
        MODEL_FORMAT="ONNX",
        MODEL_SHA256="AB" * 32,
        MODEL_REVISION="abc123",
        MODEL_INPUT_SCHEMA=json.dumps(schema),
        MODEL_OUTPUT_SCHEMA=json.dumps([{"name": "y", "datatype": "INT64", "shape": [-1]}]),
        SERVING_HOST="127.0.0.1",
        SERVING_PORT="9000",
        SERVING_MAX_BATCH_ROWS="10",
        SERVING_MAX_BODY_BYTES="1000",
        SERVING_RESPONSE_DELAY_MS="250",
        SERVING_PREDICTION_BUCKETS="0, 0.5,1",
        MODEL_CACHE_DIR="/var/cache/models",
        AWS_ENDPOINT_URL="http://aws.local:9000",
        S3_ENDPOINT_URL="http://s3.local:9000",
        SERVING_MAX_REQUESTS_PER_CONNECTION="0",
    )
    assert s.model_format == "onnx"
    assert s.model_sha256 == "ab" * 32
    assert s.model_revision == "abc123"
    assert s.input_schema == (TensorSpec("x", "FP32", (-1, 3)),)
    assert s.output_schema == (TensorSpec("y", "INT64", (-1,)),)
    assert (s.host, s.port, s.max_batch_rows, s.max_body_bytes) == ("127.0.0.1", 9000, 10, 1000)
    assert s.response_delay_ms == 250
    assert s.prediction_buckets == (0.0, 0.5, 1.0)
    assert s.cache_dir == Path("/var/cache/models")
    assert s.s3_endpoint_url == "http://s3.local:9000"
    assert s.max_requests_per_connection == 0


def test_aws_endpoint_url_is_used_when_no_s3_specific_one_is_set() -> None:
    assert settings(AWS_ENDPOINT_URL="http://aws.local").s3_endpoint_url == "http://aws.local"


def test_cache_dir_defaults_under_tmpdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert settings().cache_dir == tmp_path / "modeldeploy-models"


def test_missing_required_settings_are_all_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({})
    message = str(caught.value)
    for name in ("MODEL_NAME", "MODEL_VERSION", "MODEL_URI", "MODEL_FORMAT"):
        assert f"{name} is required" in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MODEL_FORMAT": "tensorflow"}, "MODEL_FORMAT: must be one of sklearn, onnx"),
        ({"MODEL_URI": "ftp://host/model"}, "MODEL_URI: scheme of"),
        ({"MODEL_URI": "/models/iris.joblib"}, "MODEL_URI: scheme of"),
        ({"MODEL_URI": "s3://bucket"}, "has no object key"),
        ({"MODEL_URI": "file://otherhost/m.joblib"}, "must be local"),
        ({"MODEL_URI": "http:///m.joblib"}, "has no host"),
        ({"MODEL_NAME": "iris/v2"}, "MODEL_NAME"),
        ({"MODEL_SHA256": "abc"}, "MODEL_SHA256: must be 64 hexadecimal characters"),
        ({"MODEL_INPUT_SCHEMA": "{not json"}, "MODEL_INPUT_SCHEMA: not valid JSON"),
        ({"MODEL_INPUT_SCHEMA": "[]"}, "must be a non-empty JSON list"),
        (
            {"MODEL_INPUT_SCHEMA": '[{"name": "x", "datatype": "FLOAT", "shape": [-1]}]'},
            "datatype must be one of",
        ),
        (
            {"MODEL_OUTPUT_SCHEMA": '[{"name": "x", "datatype": "FP32", "shape": [-2]}]'},
            "shape must be a non-empty list",
        ),
        (
            {"MODEL_INPUT_SCHEMA": '[{"name": "x", "datatype": "FP32"}]'},
            "shape must be a non-empty list",
        ),
        (
            {
                "MODEL_INPUT_SCHEMA": '[{"name": "x", "datatype": "FP32", "shape": [1]},'
                '{"name": "x", "datatype": "FP32", "shape": [1]}]'
            },
            "declared twice",
        ),
        ({"SERVING_PORT": "http"}, "SERVING_PORT: must be an integer"),
        ({"SERVING_PORT": "70000"}, "SERVING_PORT: must be between 1 and 65535"),
        ({"SERVING_MAX_BATCH_ROWS": "0"}, "SERVING_MAX_BATCH_ROWS"),
        ({"SERVING_MAX_BODY_BYTES": "-5"}, "SERVING_MAX_BODY_BYTES"),
        ({"SERVING_RESPONSE_DELAY_MS": "-1"}, "SERVING_RESPONSE_DELAY_MS"),
        ({"SERVING_PREDICTION_BUCKETS": "1,0.5"}, "strictly increasing"),
        ({"SERVING_PREDICTION_BUCKETS": "a,b"}, "comma-separated list of numbers"),
        ({"SERVING_WORKERS": "two"}, "SERVING_WORKERS"),
        ({"SERVING_ACCESS_LOG": "maybe"}, "SERVING_ACCESS_LOG"),
        ({"SERVING_MAX_REQUESTS_PER_CONNECTION": "-1"}, "SERVING_MAX_REQUESTS_PER_CONNECTION"),
        ({"SERVING_MAX_REQUESTS_PER_CONNECTION": "many"}, "SERVING_MAX_REQUESTS_PER_CONNECTION"),
    ],
)
def test_bad_settings_are_rejected_with_the_variable_named(
    env: dict[str, str], expected: str
) -> None:
    assert expected in config_error(**env)


def test_bad_configuration_exits_non_zero_with_a_json_error(tmp_path: Path) -> None:
    env = server_env(MODEL_URI="ftp://nowhere/model", SERVING_PORT="1")
    completed = subprocess.run(
        [sys.executable, "-m", "modeldeploy_serving"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    records = [json.loads(line) for line in completed.stdout.splitlines()]
    assert records[-1]["level"] == "error"
    assert "MODEL_URI" in records[-1]["msg"]


def test_missing_model_name_exits_non_zero(tmp_path: Path) -> None:
    env = server_env(MODEL_URI="file:///m.joblib")
    del env["MODEL_NAME"]
    completed = subprocess.run(
        [sys.executable, "-m", "modeldeploy_serving"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "MODEL_NAME is required" in completed.stdout
