"""Artifacts fetched over http and https."""

from __future__ import annotations

import datetime
import functools
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_harness import Models, ServerProcess, infer_body


class _GatedHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files once the test opens the gate, so the loading state can be observed."""

    gate: threading.Event

    def do_GET(self) -> None:
        self.gate.wait(timeout=30)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _WebServer:
    def __init__(self, root: Path, tls: ssl.SSLContext | None = None) -> None:
        self.gate = threading.Event()
        handler = functools.partial(
            type("Handler", (_GatedHandler,), {"gate": self.gate}), directory=str(root)
        )
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def web(models: Models) -> Iterator[_WebServer]:
    server = _WebServer(models.root)
    yield server
    server.close()


def test_http_uri_loads_after_the_download(models: Models, web: _WebServer, tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path,
        MODEL_URI=f"http://127.0.0.1:{web.port}/iris.joblib",
        MODEL_SHA256=Models.sha256(models.classifier_path),
    )
    try:
        server.wait_live()
        # Live but not ready while the artifact is on its way.
        loading = server.get("/v2/health/ready")
        assert loading.status == 503
        assert loading.json() == {"ready": False, "error": "the model is loading"}
        infer = server.post("/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]]))
        assert infer.status == 503
        assert "is not ready: the model is loading" in infer.json()["error"]
        web.gate.set()
        server.wait_ready()
        reply = server.post("/v2/models/iris/infer", infer_body(models.features[:2].tolist()))
        assert reply.status == 200
        assert reply.json()["outputs"][0]["data"] == (
            models.classifier.predict(models.features[:2]).tolist()
        )
        cached = list((tmp_path / "cache").rglob("iris.joblib"))
        assert len(cached) == 1
        assert cached[0].read_bytes() == models.classifier_path.read_bytes()
    finally:
        server.stop()


def test_http_404_is_reported(web: _WebServer, tmp_path: Path) -> None:
    web.gate.set()
    server = ServerProcess(tmp_path, MODEL_URI=f"http://127.0.0.1:{web.port}/absent.joblib")
    try:
        server.wait_live()
        server.wait_for_log(lambda r: r.get("level") == "error", timeout=30)
        reply = server.get("/v2/health/ready")
        assert reply.status == 503
        assert "answered 404" in reply.json()["error"]
    finally:
        server.stop()


def _tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path = directory / "server.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / "server.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


def test_https_uri_verifies_the_certificate(models: Models, tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="generating a test certificate needs cryptography")
    ca_path, cert_path, key_path = _tls_files(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    web = _WebServer(models.root, tls)
    web.gate.set()
    uri = f"https://127.0.0.1:{web.port}/iris.onnx"
    trusted = ServerProcess(
        tmp_path / "trusted", MODEL_URI=uri, MODEL_FORMAT="onnx", SSL_CERT_FILE=str(ca_path)
    )
    untrusted = ServerProcess(tmp_path / "untrusted", MODEL_URI=uri, MODEL_FORMAT="onnx")
    try:
        trusted.wait_ready()
        reply = trusted.post(
            "/v2/models/iris/infer", infer_body([[1.0, 2.0, 3.0, 4.0]], "X", "FP32")
        )
        assert reply.status == 200
        untrusted.wait_live()
        untrusted.wait_for_log(lambda r: r.get("level") == "error", timeout=30)
        error = untrusted.get("/v2/health/ready").json()["error"]
        assert "CERTIFICATE_VERIFY_FAILED" in error
    finally:
        trusted.stop()
        untrusted.stop()
        web.close()
