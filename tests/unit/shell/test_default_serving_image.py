"""The operator's default serving image: what a ModelDeployment that names none runs, what
admission judges it by, and part of its revision."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, GROUP, PLURAL, VERSION
from modeldeploy.policy.select import read_policy
from modeldeploy.shell.admission import judge
from modeldeploy.validation import load_spec
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, Replica, model_deployment

OURS = "registry.example.com/platform/serving:2.0"
MODEL = {"name": "iris", "version": "v1", "uri": "s3://models/iris", "format": "sklearn"}


def test_a_spec_that_names_no_image_gets_the_operators() -> None:
    raw: dict[str, Any] = {"model": MODEL, "serving": {"port": 9000}}
    spec = load_spec(raw, OURS)
    assert spec.serving.image == OURS and spec.serving.port == 9000
    assert "image" not in raw["serving"], "the object read is left as it is"
    assert load_spec({"model": MODEL}, OURS).serving.image == OURS
    assert load_spec({"model": MODEL}).serving.image == DEFAULT_SERVING_IMAGE


def test_an_image_the_spec_names_wins() -> None:
    raw = {"model": MODEL, "serving": {"image": "team/serving:1.2"}}
    assert load_spec(raw, OURS).serving.image == "team/serving:1.2"


def test_changing_the_default_is_a_new_revision_of_what_runs_it() -> None:
    raw = {"model": MODEL}
    assert compute_revision("iris", load_spec(raw, OURS)) != compute_revision(
        "iris", load_spec(raw)
    )
    pinned = {"model": MODEL, "serving": {"image": "team/serving:1.2"}}
    assert compute_revision("iris", load_spec(pinned, OURS)) == compute_revision(
        "iris", load_spec(pinned)
    )


def test_admission_judges_the_image_that_would_run() -> None:
    policy = read_policy(
        {
            "metadata": {"name": "production", "generation": 1},
            "spec": {"rules": {"allowedImages": ["registry.example.com/platform/"]}},
        }
    )
    obj = {"metadata": {"name": "iris", "namespace": "team-a"}, "spec": {"model": MODEL}}

    def verdict(default_image: str) -> str | None:
        return judge(
            "ModelDeployment", "CREATE", obj, None, lambda: [policy], lambda _ns: {}, default_image
        ).refusal

    assert verdict(OURS) is None
    refusal = verdict(DEFAULT_SERVING_IMAGE)
    assert refusal is not None and "allowedImages" in refusal and DEFAULT_SERVING_IMAGE in refusal


@pytest.fixture
def replica(server: FakeApiServer) -> Iterator[Replica]:
    running = Replica(server, "replica-a", default_serving_image=OURS).start()
    yield running
    running.stop()


def test_the_operator_runs_its_default_image(server: FakeApiServer, replica: Replica) -> None:
    body = model_deployment("iris", "v1")
    assert "image" not in body["spec"].get("serving", {})
    client.CustomObjectsApi(api_client(server)).create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, body
    )
    revision = compute_revision("iris", load_spec(body["spec"], OURS))
    deployment = server.wait_for(
        lambda: server.get("deployments", f"iris-{revision}", NAMESPACE), timeout=20.0
    )
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [OURS]
