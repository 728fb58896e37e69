"""The status models as the shell uses them: parsing what is stored, strictly in tests and
leniently in production, and writing the typed status back as a merge patch."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modeldeploy.api.spec import (
    DUPLICATE_CHECK_NAMES,
    parse_spec,
    revision_source,
    spec_from_source,
)
from modeldeploy.api.status import (
    ModelDeploymentStatus,
    RevisionSource,
    RolloutState,
    parse_status,
    parse_status_leniently,
)
from modeldeploy.runtime import mergepatch
from modeldeploy.shell.reconcile import Reconciler
from modeldeploy.shell.stores import ChildStore, ModelDeploymentStore

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
STORED: dict[str, Any] = {
    "phase": "Canary",
    "weight": 10,
    "stable": {
        "revision": "r1",
        "version": "v1",
        "deployment": "m-r1",
        "replicas": 3,
        "readyReplicas": 3,
    },
    "rollout": {
        "revision": "r2",
        "version": "v2",
        "startedAt": "2026-01-01T11:00:00Z",
        "step": 0,
        "shadow": {"startedAt": "2026-01-01T11:00:05Z"},
    },
    "checks": [{"name": "error-rate", "verdict": "Pass", "value": 0}],
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "StableReady",
            "message": "",
            "lastTransitionTime": "2026-01-01T10:00:00Z",
        }
    ],
}


def with_unknown_fields(status: dict[str, Any]) -> dict[str, Any]:
    """`status` as a newer version of the operator might have written it."""
    newer = copy.deepcopy(status)
    newer["canaryZone"] = "eu-west-1a"
    newer["rollout"]["shadow"]["sampledRequests"] = 1200
    newer["conditions"][0]["severity"] = "Info"
    return newer


def test_a_status_as_the_operator_writes_it_reads_back_unchanged() -> None:
    status = parse_status(STORED)
    assert status.rollout is not None and status.rollout.shadow is not None
    assert status.rollout.shadow.started_at == "2026-01-01T11:00:05Z"
    assert status.checks is not None and status.checks[0].value == 0.0
    # Written back unchanged, it asks for no change: no merge patch at all.
    assert mergepatch.diff(STORED, status.wire()) == {}


def test_the_wire_form_is_camel_case_without_nulls() -> None:
    status = ModelDeploymentStatus(
        phase="Canary",
        rollout=RolloutState(revision="r2", version="v2", started_at="t", step_ready_at=None),
    )
    assert status.wire() == {
        "phase": "Canary",
        "rollout": {"revision": "r2", "version": "v2", "startedAt": "t"},
        "conditions": [],
    }


def test_a_field_the_models_lack_is_an_error_when_read_strictly() -> None:
    with pytest.raises(ValidationError, match="canaryZone"):
        parse_status(with_unknown_fields(STORED))
    with pytest.raises(ValidationError):
        parse_status({**STORED, "weight": "10"})  # JSON types as they are, as the CRD has them


def test_read_leniently_unknown_fields_are_left_out_and_named() -> None:
    stored = with_unknown_fields(STORED)
    status, unknown = parse_status_leniently(stored)
    assert status == parse_status(STORED)
    assert sorted(unknown) == [
        "canaryZone",
        "conditions.0.severity",
        "rollout.shadow.sampledRequests",
    ]
    assert stored == with_unknown_fields(STORED), "what was read is left as it was"
    # Anything else the models refuse is still an error.
    with pytest.raises(ValidationError):
        parse_status_leniently({**stored, "weight": "10"})
    assert parse_status_leniently(STORED) == (parse_status(STORED), [])


def test_a_revision_source_is_the_spec_snapshot_it_always_was() -> None:
    spec = parse_spec(
        {
            "model": {"name": "m", "version": "v1", "uri": "file:///m", "format": "sklearn"},
            "serving": {"env": [{"name": "A", "value": "1"}]},
        }
    )
    source = RevisionSource.of(spec)
    assert source.model_dump(mode="json", by_alias=True, exclude_none=True) == revision_source(spec)
    assert source.to_spec(3) == spec_from_source(revision_source(spec), 3)


# --- the reconcile ---------------------------------------------------------------------------

SPEC = {
    "model": {"name": "m", "version": "v1", "uri": "file:///m", "format": "sklearn"},
    "replicas": 1,
}


class FakeKube:
    """The API server, as far as one reconcile of a first deploy reaches it."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = copy.deepcopy(body)
        self.patches: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def patch_status(
        self, namespace: str, name: str, patch: dict[str, Any], resource_version: str
    ) -> dict[str, Any] | None:
        if resource_version != self.body["metadata"]["resourceVersion"]:
            return None
        self.patches.append(patch)
        self.body["status"] = mergepatch.apply(self.body.get("status") or {}, patch)
        version = int(self.body["metadata"]["resourceVersion"]) + 1
        self.body["metadata"]["resourceVersion"] = str(version)
        return copy.deepcopy(self.body)

    def create_event(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> bool:
        event = next(e for e in self.events if e["metadata"]["name"] == name)
        event.update(patch)
        return True

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = {**manifest["metadata"], "resourceVersion": "1", "uid": "child"}
        return {**manifest, "metadata": meta}

    def list_crashes(self, namespace: str, labels: dict[str, str]) -> list[Any]:
        return []

    def get_child(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None  # no object of a child's name exists yet

    def list_ready_pods(self, namespace: str, labels: dict[str, str]) -> list[Any]:
        return []


def reconciler_for(
    body: dict[str, Any], strict: bool = False, cluster_domain: str = "cluster.local"
) -> tuple[Reconciler, FakeKube]:
    kube = FakeKube(body)
    models = ModelDeploymentStore()
    models.upsert(copy.deepcopy(body))
    reconciler = Reconciler(
        kube,  # type: ignore[arg-type]
        None,
        models,
        ChildStore(),
        clock=lambda: NOW,
        strict_status=strict,
        cluster_domain=cluster_domain,
    )
    return reconciler, kube


def model_deployment(status: dict[str, Any], version: str = "7") -> dict[str, Any]:
    meta = {"name": "m", "namespace": "ml", "uid": "u", "generation": 1, "resourceVersion": version}
    return {"metadata": meta, "spec": SPEC, "status": status}


def test_the_reconcile_writes_the_typed_status_as_a_merge_patch() -> None:
    reconciler, kube = reconciler_for(model_deployment({}))
    reconciler.reconcile("ml", "m")
    [patch] = kube.patches
    written = parse_status(kube.body["status"])
    assert written.phase == "Progressing" and written.revision is not None
    assert patch == written.wire(), "the first write is the whole status"


def keys_of(document: Any) -> set[str]:
    if isinstance(document, dict):
        return {*document, *(key for value in document.values() for key in keys_of(value))}
    if isinstance(document, list):
        return {key for item in document for key in keys_of(item)}
    return set()


def test_an_unknown_field_is_ignored_said_once_and_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconciler, kube = reconciler_for(model_deployment(with_unknown_fields(STORED)))
    with caplog.at_level(logging.WARNING, logger="modeldeploy.shell.reconcile"):
        reconciler.reconcile("ml", "m")
        said = [r.getMessage() for r in caplog.records if "unknown" in r.getMessage()]
        assert len(said) == 3 and any("status.rollout.shadow.sampledRequests" in s for s in said)
        # The status write removes them: the desired status is all the status there is.
        assert kube.patches[0]["canaryZone"] is None
        assert not {"canaryZone", "sampledRequests", "severity"} & keys_of(kube.body["status"])
        parse_status(kube.body["status"])
        # Written again (by that newer operator), they are not said again.
        caplog.clear()
        again = model_deployment(with_unknown_fields(STORED), version="20")
        reconciler.models.upsert(again)
        kube.body = copy.deepcopy(again)
        reconciler.reconcile("ml", "m")
        assert len(kube.patches) == 2
        assert not [r for r in caplog.records if "unknown" in r.getMessage()]


def test_read_strictly_an_unknown_field_fails_the_reconcile() -> None:
    reconciler, kube = reconciler_for(model_deployment(with_unknown_fields(STORED)), strict=True)
    with pytest.raises(ValidationError, match="canaryZone"):
        reconciler.reconcile("ml", "m")
    assert kube.patches == []


@pytest.mark.parametrize(
    ("domain", "url"),
    [("cluster.local", "http://m.ml.svc.cluster.local:80"),
     ("corp.internal", "http://m.ml.svc.corp.internal:80")],
)  # fmt: skip
def test_the_status_gives_the_client_services_address_once_the_service_exists(
    domain: str, url: str
) -> None:
    reconciler, kube = reconciler_for(model_deployment({}), cluster_domain=domain)
    reconciler.reconcile("ml", "m")
    # The first decision is recorded before it is carried out: no Service exists yet.
    assert "url" not in kube.body["status"]
    assert reconciler.children.shape("Service", "ml", "m") is not None, "made by the act step"
    reconciler.reconcile("ml", "m")
    assert kube.body["status"]["url"] == url
    assert "routeHostnames" not in kube.body["status"], "the replicas router has no route"


def test_a_spec_the_crds_cel_would_refuse_fails_in_status_in_the_same_words() -> None:
    body = model_deployment({})
    body["spec"] = {**SPEC, "rollout": {"checks": [{"name": "error-rate", "max": 0.1}] * 2}}
    reconciler, kube = reconciler_for(body)
    reconciler.reconcile("ml", "m")
    written = parse_status(kube.body["status"])
    assert written.phase == "Failed"
    assert written.message is not None and DUPLICATE_CHECK_NAMES in written.message
    assert [e["reason"] for e in kube.events] == ["InvalidSpec"]
