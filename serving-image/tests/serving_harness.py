"""Starting the real server in a subprocess and talking HTTP to it."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SERVING_IMAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Models:
    root: Path
    features: np.ndarray
    labels: np.ndarray
    classifier: Any
    classifier_path: Path
    onnx_path: Path
    onnx_zipmap_path: Path
    sqrt_pipeline: Any
    sqrt_pipeline_path: Path
    regressor_path: Path
    string_labels_path: Path

    @staticmethod
    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    if isinstance(body, Mapping):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def server_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODEL_", "SERVING_", "AWS_", "S3_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SERVING_IMAGE), env.get("PYTHONPATH")]))
    env.update(
        MODEL_NAME="iris",
        MODEL_VERSION="v1",
        MODEL_FORMAT="sklearn",
        SERVING_HOST="127.0.0.1",
        SERVING_DRAIN_SECONDS="0",
        # A tight shutdown limit keeps a wedged server from stalling the suite.
        SERVING_SHUTDOWN_TIMEOUT_SECONDS="5",
        # Credentials come only from what a test passes: never from the developer's AWS files
        # or from an instance metadata endpoint off this machine.
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(overrides)
    return env


ADMIN_TOKEN = "the-operators-token"


class ServerProcess:
    """``python -m modeldeploy_serving`` on a free loopback port, logs captured to a file."""

    def __init__(self, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # The operator's port, with the digest of ADMIN_TOKEN, unless a test sets them.
        self.admin_port = free_port()
        self.log_path = workdir / f"server-{self.port}.log"
        admin = {
            "SERVING_ADMIN_PORT": str(self.admin_port),
            "SERVING_ADMIN_TOKEN_SHA256": hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
        }
        self.env = server_env(SERVING_PORT=str(self.port), **{**admin, **env})
        self.env.setdefault("MODEL_CACHE_DIR", str(workdir / "cache"))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "modeldeploy_serving"],
                env=self.env,
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, **kwargs: Any) -> Reply:
        return request(self.port, "GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return request(self.port, "POST", path, body, **kwargs)

    def admin(
        self, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN
    ) -> Reply:
        """A request on the admin port, as the operator sends it."""
        headers = {"Modeldeploy-Admin-Token": token} if token is not None else {}
        return request(self.admin_port, method, path, body, headers=headers)

    def wait_live(self, timeout: float = 30.0) -> None:
        self._wait(lambda: self.get("/v2/health/live").status == 200, timeout, "live")

    def wait_ready(self, timeout: float = 30.0) -> None:
        self._wait(lambda: self.get("/v2/health/ready").status == 200, timeout, "ready")

    def _wait(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode} before it was {what}:\n"
                    + self.logs()
                )
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not {what} after {timeout}s:\n" + self.logs())

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        # A line still being written has no newline yet; it is read next time.
        complete = self.logs().rpartition("\n")[0]
        for line in complete.splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append({"unparsed": line})
        return records

    def wait_for_log(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first log record matching ``predicate``; access lines follow their response."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.log_records():
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError("no matching log record in:\n" + self.logs())
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return self.process.returncode


def infer_body(
    rows: list[list[float]], name: str = "input-0", datatype: str = "FP64"
) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "shape": [len(rows), len(rows[0])], "datatype": datatype, "data": rows}
        ]
    }


def scrape(server: ServerProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics``, keyed by name and label set."""
    from prometheus_client.parser import text_string_to_metric_families

    reply = server.get("/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): float(sample.value)
        for family in text_string_to_metric_families(reply.body.decode())
        for sample in family.samples
    }


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    """One sample; the model labels default to the harness' iris/v1 with no revision."""
    labels = {"model": "iris", "version": server.env["MODEL_VERSION"], **labels}
    labels.setdefault("revision", server.env.get("MODEL_REVISION", ""))
    key = (name, frozenset(labels.items()))
    samples = scrape(server)
    assert key in samples, f"{key} not exposed"
    return samples[key]
