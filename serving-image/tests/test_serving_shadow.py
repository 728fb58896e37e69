"""Shadow copies between two real server processes: the stable one copies what it answered to
the candidate, compares the answers and counts; the client never waits for any of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from serving_harness import Models, ServerProcess, free_port, infer_body, scrape

from modeldeploy_serving.shadow import ShadowConfigError, compare, parse_config

pytestmark = pytest.mark.timeout(120)


def start(workdir: Any, path: Any, revision: str, **env: str) -> ServerProcess:
    server = ServerProcess(workdir, MODEL_URI=path.as_uri(), MODEL_REVISION=revision, **env)
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def stable(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start(
        tmp_path_factory.mktemp("stable"),
        models.classifier_path,
        "stable-1",
        SERVING_SHADOW_TARGET_SUFFIXES="localhost",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def same(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start(tmp_path_factory.mktemp("same"), models.classifier_path, "same-1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def other(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start(tmp_path_factory.mktemp("other"), models.regressor_path, "other-1")
    yield server
    server.stop()


def shadow_to(server: ServerProcess, port: int, candidate: str, ttl: float = 60) -> Any:
    body = {
        "target": f"http://localhost:{port}",
        "percent": 100,
        "candidateRevision": candidate,
        "ttlSeconds": ttl,
    }
    return server.admin("POST", "/admin/shadow", body)


def shadow_counts(server: ServerProcess, candidate: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for (name, labels), value in scrape(server).items():
        if dict(labels).get("candidate_revision") != candidate:
            continue
        key = name.removeprefix("modeldeploy_serving_shadow_")
        outcome = dict(labels).get("outcome")
        counts[f"{key}:{outcome}" if outcome else key] = value
    return counts


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def rows(models: Models, count: int) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(models.features[:count])]


def test_a_copy_to_the_same_model_agrees_on_every_answer(
    stable: ServerProcess, same: ServerProcess, models: Models
) -> None:
    assert shadow_to(stable, same.port, "same-1").status == 200
    batch = rows(models, 5)
    for _ in range(20):
        assert stable.post("/v2/models/iris/infer", infer_body(batch)).status == 200
    wait_until(
        lambda: shadow_counts(stable, "same-1").get("requests_total:compared") == 20,
        "20 copies compared",
    )
    counts = shadow_counts(stable, "same-1")
    assert counts["labels_compared_total"] == 100
    assert counts["labels_agreed_total"] == 100
    assert counts["values_compared_total"] == 100 * 3  # three class probabilities per row
    assert counts["abs_diff_total"] == pytest.approx(0.0, abs=1e-9)
    assert counts["requests_total:candidate_error"] == 0
    # The candidate served them as the infer requests they are.
    candidate_infers = sum(
        value
        for (name, labels), value in scrape(same).items()
        if name == "modeldeploy_serving_requests_total"
        and ("operation", "infer") in labels
        and ("code", "200") in labels
    )
    assert candidate_infers == 20


def test_a_copy_to_another_model_counts_every_disagreement(
    stable: ServerProcess, other: ServerProcess, models: Models
) -> None:
    assert shadow_to(stable, other.port, "other-1").status == 200
    for _ in range(10):
        assert stable.post("/v2/models/iris/infer", infer_body(rows(models, 3))).status == 200
    wait_until(
        lambda: shadow_counts(stable, "other-1").get("requests_total:compared") == 10,
        "10 copies compared",
    )
    counts = shadow_counts(stable, "other-1")
    assert counts["labels_compared_total"] == 30
    assert counts["labels_agreed_total"] == 0
    assert counts["abs_diff_total"] == pytest.approx(90.0)  # no probabilities: 1 per value


def test_an_unreachable_candidate_never_fails_a_client(
    stable: ServerProcess, models: Models
) -> None:
    assert shadow_to(stable, free_port(), "gone-1").status == 200
    for _ in range(10):
        reply = stable.post("/v2/models/iris/infer", infer_body(rows(models, 2)))
        assert reply.status == 200
    wait_until(
        lambda: shadow_counts(stable, "gone-1").get("requests_total:unreachable") == 10,
        "10 undelivered copies counted",
    )


def test_the_setting_lapses_unless_renewed_and_can_be_removed(
    stable: ServerProcess, same: ServerProcess, models: Models
) -> None:
    assert shadow_to(stable, same.port, "lapse-1", ttl=0.5).status == 200
    wait_until(
        lambda: stable.admin("GET", "/admin/shadow").json()["shadow"] is None, "the setting lapsed"
    )
    for _ in range(5):
        assert stable.post("/v2/models/iris/infer", infer_body(rows(models, 1))).status == 200
    assert shadow_counts(stable, "lapse-1").get("requests_total:compared") == 0

    assert shadow_to(stable, same.port, "removed-1").status == 200
    assert stable.admin("GET", "/admin/shadow").json()["shadow"]["candidateRevision"] == "removed-1"
    assert stable.admin("DELETE", "/admin/shadow").status == 200
    assert stable.admin("GET", "/admin/shadow").json()["shadow"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"target": "http://example.com", "percent": 5, "candidateRevision": "c"}, "host ending"),
        ({"target": "http://x.svc", "percent": 0, "candidateRevision": "c"}, "percent"),
        ({"target": "http://x.svc", "percent": "5", "candidateRevision": "c"}, "percent"),
        ({"target": "http://x.svc/steal", "percent": 5, "candidateRevision": "c"}, "only scheme"),
        ({"target": "http://x.svc", "percent": 5}, "candidateRevision"),
        (
            {"target": "http://x.svc", "percent": 5, "candidateRevision": "c", "ttlSeconds": 1e9},
            "ttl",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_reason(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ShadowConfigError, match=message):
        parse_config(orjson.dumps(body), "iris", 0.0)


def test_bad_settings_get_a_400(stable: ServerProcess) -> None:
    reply = stable.admin("POST", "/admin/shadow", {"target": "http://example.com", "percent": 5})
    assert reply.status == 400
    assert "shadow: target" in reply.json()["error"]


def test_compare_output_by_output() -> None:
    own = {
        "outputs": [
            {"name": "label", "datatype": "INT64", "data": [1, 2, 0]},
            {"name": "score", "datatype": "FP64", "data": [[0.5, 0.25]]},
        ]
    }
    theirs = {
        "outputs": [
            {"name": "score", "datatype": "FP64", "data": [0.75, 0.25]},
            {"name": "label", "datatype": "INT64", "data": [1, 0, 0]},
        ]
    }
    found = compare(own, theirs)
    assert (found.labels, found.agreed, found.values) == (3, 2, 2)
    assert found.abs_diff == pytest.approx(0.25)
    missing = compare(own, {"outputs": []})
    assert (missing.labels, missing.agreed, missing.abs_diff) == (3, 0, 2.0)


def test_only_the_admin_port_with_the_operators_token_steers_the_shadow(
    stable: ServerProcess, models: Models, tmp_path: Any
) -> None:
    body = {"target": "http://localhost:1", "percent": 100, "candidateRevision": "x"}
    # Clients reach the client port, which knows no admin endpoint.
    assert stable.post("/admin/shadow", body).status == 404
    assert stable.get("/admin/shadow").status == 404
    # The admin port wants the token whose digest the pod was given.
    assert stable.admin("POST", "/admin/shadow", body, token=None).status == 401
    assert stable.admin("POST", "/admin/shadow", body, token="guess").status == 401
    assert stable.admin("GET", "/admin/shadow").status == 200
    # And answers nothing but the admin endpoints.
    assert stable.admin("POST", "/v2/models/iris/infer", infer_body(rows(models, 1))).status == 404
    # A pod given no digest refuses every admin request.
    unset = start(tmp_path, models.classifier_path, "unset-1", SERVING_ADMIN_TOKEN_SHA256="")
    try:
        reply = unset.admin("GET", "/admin/shadow")
        assert reply.status == 403 and "SERVING_ADMIN_TOKEN_SHA256" in reply.json()["error"]
    finally:
        unset.stop()
