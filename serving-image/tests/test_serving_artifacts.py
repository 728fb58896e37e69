from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeldeploy_serving.artifacts import ArtifactError, fetch_artifact

CONTENT = b"model bytes " * 1000
DIGEST = hashlib.sha256(CONTENT).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int]

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/model.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(CONTENT)))
            self.end_headers()
            self.wfile.write(CONTENT)
        elif self.path == "/broken.bin":
            self.send_error(503)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def web() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modeldeploy_serving.artifacts.time.sleep", lambda seconds: None)


def test_file_uri_is_used_in_place(tmp_path: Path) -> None:
    path = tmp_path / "my model.bin"
    path.write_bytes(CONTENT)
    assert fetch_artifact(path.as_uri(), tmp_path / "cache", DIGEST) == path
    assert not (tmp_path / "cache").exists()


def test_file_digest_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(CONTENT + b"tampered")
    with pytest.raises(ArtifactError, match=f"sha256 mismatch for model.bin: expected {DIGEST}"):
        fetch_artifact(path.as_uri(), tmp_path / "cache", DIGEST)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        fetch_artifact((tmp_path / "absent.bin").as_uri(), tmp_path / "cache")


def test_http_download_lands_in_the_cache_and_is_reused(
    tmp_path: Path, web: tuple[str, dict[str, int]]
) -> None:
    base, hits = web
    first = fetch_artifact(f"{base}/model.bin", tmp_path / "cache", DIGEST)
    assert first.read_bytes() == CONTENT
    assert first.is_relative_to(tmp_path / "cache")
    second = fetch_artifact(f"{base}/model.bin", tmp_path / "cache", DIGEST)
    assert second == first
    assert hits["/model.bin"] == 1
    assert [p.name for p in first.parent.iterdir()] == ["model.bin"]


def test_corrupt_cache_entry_is_downloaded_again(
    tmp_path: Path, web: tuple[str, dict[str, int]]
) -> None:
    base, hits = web
    path = fetch_artifact(f"{base}/model.bin", tmp_path / "cache", DIGEST)
    path.write_bytes(b"garbage")
    assert fetch_artifact(f"{base}/model.bin", tmp_path / "cache", DIGEST).read_bytes() == CONTENT
    assert hits["/model.bin"] == 2


def test_http_digest_mismatch_leaves_nothing_behind(
    tmp_path: Path, web: tuple[str, dict[str, int]]
) -> None:
    base, _ = web
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        fetch_artifact(f"{base}/model.bin", tmp_path / "cache", "0" * 64)
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_http_404_is_not_retried(tmp_path: Path, web: tuple[str, dict[str, int]]) -> None:
    base, hits = web
    with pytest.raises(ArtifactError, match="answered 404"):
        fetch_artifact(f"{base}/absent.bin", tmp_path / "cache")
    assert hits["/absent.bin"] == 1


def test_http_5xx_is_retried_then_given_up(tmp_path: Path, web: tuple[str, dict[str, int]]) -> None:
    base, hits = web
    with pytest.raises(ArtifactError, match=r"answered 503 .*\(3 attempts\)"):
        fetch_artifact(f"{base}/broken.bin", tmp_path / "cache")
    assert hits["/broken.bin"] == 3


def test_unreachable_host(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="failed"):
        fetch_artifact("http://127.0.0.1:9/model.bin", tmp_path / "cache")
