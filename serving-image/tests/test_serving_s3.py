"""Artifacts fetched from S3: moto's S3-compatible server, and a stand-in that fails on purpose."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.server import ThreadedMotoServer
from serving_harness import Models, ServerProcess, infer_body

from modeldeploy_serving.artifacts import ArtifactError, ArtifactUnavailableError, fetch_artifact

KEY = "iris/v1/model file.joblib"
URI = "s3://models/iris/v1/model%20file.joblib"
PUBLIC_URI = "s3://models/public/model.joblib"


@dataclass(frozen=True)
class _Store:
    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="module")
def s3_store(models: Models) -> Iterator[_Store]:
    """moto on a loopback port: the classifier, privately and under public/, and a reader."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        session = boto3.session.Session(
            aws_access_key_id="admin", aws_secret_access_key="admin", region_name="us-east-1"
        )
        iam = session.client("iam", endpoint_url=endpoint)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="models")
        s3.upload_file(str(models.classifier_path), "models", KEY)
        s3.upload_file(str(models.classifier_path), "models", "public/model.joblib")
        public_read = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::models/public/*",
                }
            ],
        }
        s3.put_bucket_policy(Bucket="models", Policy=json.dumps(public_read))
        yield _Store(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.stop()


def test_signed_requests_load_the_model_or_say_why_not(
    models: Models, s3_store: _Store, tmp_path: Path
) -> None:
    common = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": s3_store.access_key}
    # moto checks every signature and the reader's policy from here on.
    with enable_iam_authentication():
        good = ServerProcess(
            tmp_path / "good",
            MODEL_URI=URI,
            MODEL_SHA256=Models.sha256(models.classifier_path),
            AWS_ENDPOINT_URL=s3_store.endpoint,
            AWS_SECRET_ACCESS_KEY=s3_store.secret_key,
            **common,
        )
        forged = ServerProcess(
            tmp_path / "forged",
            MODEL_URI=URI,
            S3_ENDPOINT_URL=s3_store.endpoint,
            AWS_SECRET_ACCESS_KEY="not-the-secret",
            **common,
        )
        missing = ServerProcess(
            tmp_path / "missing",
            MODEL_URI="s3://models/iris/v2/model.joblib",
            AWS_ENDPOINT_URL=s3_store.endpoint,
            AWS_SECRET_ACCESS_KEY=s3_store.secret_key,
            **common,
        )
        try:
            good.wait_ready()
            reply = good.post("/v2/models/iris/infer", infer_body(models.features[:3].tolist()))
            assert reply.status == 200
            assert reply.json()["outputs"][0]["data"] == (
                models.classifier.predict(models.features[:3]).tolist()
            )
            for server, expected in [
                (forged, f"GET s3://models/{KEY} answered 403 SignatureDoesNotMatch"),
                (missing, "GET s3://models/iris/v2/model.joblib answered 404 NoSuchKey"),
            ]:
                server.wait_live()
                server.wait_for_log(lambda r: r.get("level") == "error", timeout=30)
                reply = server.get("/v2/health/ready")
                assert reply.status == 503
                assert reply.json()["error"].startswith("the model failed to load: " + expected)
        finally:
            for server in (good, forged, missing):
                server.stop()
    for server in (forged, missing):
        assert not any("retrying" in r.get("msg", "") for r in server.log_records())


def test_without_credentials_requests_go_unsigned(
    models: Models, s3_store: _Store, tmp_path: Path
) -> None:
    public = ServerProcess(
        tmp_path / "public", MODEL_URI=PUBLIC_URI, AWS_ENDPOINT_URL=s3_store.endpoint
    )
    # moto lets anonymous requests through to objects the bucket policy makes public, and only
    # to those, so the refusal here shows the requests carry no signature.
    private = ServerProcess(tmp_path / "private", MODEL_URI=URI, AWS_ENDPOINT_URL=s3_store.endpoint)
    try:
        public.wait_ready()
        reply = public.post("/v2/models/iris/infer", infer_body(models.features[:2].tolist()))
        assert reply.status == 200
        private.wait_live()
        private.wait_for_log(lambda r: r.get("level") == "error", timeout=30)
        assert private.get("/v2/health/ready").json()["error"] == (
            f"the model failed to load: GET s3://models/{KEY} answered 403 Forbidden"
        )
    finally:
        public.stop()
        private.stop()


_S3_ERRORS = {
    "/models/denied": (403, "AccessDenied", "Access Denied"),
    "/models/busy": (503, "SlowDown", "Please reduce your request rate."),
    "/models/timed-out": (400, "RequestTimeout", "Your socket connection timed out."),
}


class _FailingS3(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the S3 error its path names, and counts the requests."""

    hits: dict[str, int]

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        status, code, message = _S3_ERRORS[self.path]
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def failing_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, int]]]:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    hits: dict[str, int] = {}
    handler = type("Handler", (_FailingS3,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_refusals_are_final(tmp_path: Path, failing_s3: tuple[str, dict[str, int]]) -> None:
    endpoint, hits = failing_s3
    with pytest.raises(ArtifactError) as raised:
        fetch_artifact("s3://models/denied", tmp_path, s3_endpoint_url=endpoint)
    assert not isinstance(raised.value, ArtifactUnavailableError)
    assert str(raised.value) == "GET s3://models/denied answered 403 AccessDenied Access Denied"
    assert hits["/models/denied"] == 1


@pytest.mark.parametrize(
    ("key", "answer"), [("busy", "503 SlowDown"), ("timed-out", "400 RequestTimeout")]
)
def test_server_errors_and_transient_codes_are_retried(
    tmp_path: Path, failing_s3: tuple[str, dict[str, int]], key: str, answer: str
) -> None:
    endpoint, hits = failing_s3
    with pytest.raises(ArtifactUnavailableError, match=rf"answered {answer} .*\(3 attempts\)"):
        fetch_artifact(f"s3://models/{key}", tmp_path, s3_endpoint_url=endpoint)
    # botocore's own retries are off: the fetcher's three attempts are all there are.
    assert hits[f"/models/{key}"] == 3


def test_unreachable_endpoint_is_retried(
    tmp_path: Path, failing_s3: tuple[str, dict[str, int]]
) -> None:
    with pytest.raises(ArtifactUnavailableError, match=r"GET s3://models/m failed: .*3 attempts"):
        fetch_artifact("s3://models/m", tmp_path, s3_endpoint_url="http://127.0.0.1:9")
