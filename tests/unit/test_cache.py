"""The watch caches: what they hold, and when a change is news to a reconcile."""

from __future__ import annotations

from typing import Any

from modeldeploy.shell.stores import DEPLOYMENT, SERVICE, ChildStore, ModelDeploymentStore


def md(name: str, version: str, namespace: str = "ns") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": version,
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {},
    }


def child(
    name: str,
    version: str,
    owner: str = "iris",
    revision: str = "abc",
    replicas: int = 2,
    ready: int = 0,
    namespace: str = "ns",
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": version,
            "uid": f"uid-{name}",
            "labels": {"modeldeploy.io/name": owner, "modeldeploy.io/revision": revision},
        },
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": "i"}]}}},
        "status": {"readyReplicas": ready, "availableReplicas": ready},
    }


def test_a_model_deployment_is_news_only_in_a_newer_version() -> None:
    store = ModelDeploymentStore()
    assert store.upsert(md("a", "10"))
    assert not store.upsert(md("a", "10")), "the echo of a version already taken in"
    assert not store.upsert(md("a", "9")), "an older version arriving late"
    assert store.upsert(md("a", "11"))
    body = store.get("ns", "a")
    assert body is not None and "managedFields" not in body["metadata"]
    store.delete("ns", "a")
    assert store.get("ns", "a") is None and len(store) == 0


def test_a_child_change_names_its_owner_only_when_a_reconcile_would_see_it() -> None:
    store = ChildStore()
    assert store.upsert(DEPLOYMENT, child("iris-abc", "1")) == ("ns", "iris")
    # A new resourceVersion with nothing a reconcile reads changed is no news.
    assert store.upsert(DEPLOYMENT, child("iris-abc", "2")) is None
    assert store.upsert(DEPLOYMENT, child("iris-abc", "3", ready=1)) == ("ns", "iris")
    assert store.upsert(DEPLOYMENT, child("iris-abc", "2", ready=2)) is None, "older"
    observed = store.observed("ns", "iris")
    assert observed.ready("abc") == 1
    assert observed.deployments["abc"].name == "iris-abc"


def test_children_are_indexed_by_owner_and_kind() -> None:
    store = ChildStore()
    store.upsert(DEPLOYMENT, child("iris-abc", "1"))
    store.upsert(DEPLOYMENT, child("iris-def", "2", revision="def"))
    store.upsert(DEPLOYMENT, child("wine-abc", "3", owner="wine"))
    store.upsert(SERVICE, child("iris", "4"))
    assert set(store.observed("ns", "iris").deployments) == {"abc", "def"}
    assert set(store.observed("ns", "wine").deployments) == {"abc"}
    assert store.shape(SERVICE, "ns", "iris") is not None
    assert store.shape(DEPLOYMENT, "ns", "iris") is None
    assert store.delete(DEPLOYMENT, "ns", "iris-def") == ("ns", "iris")
    assert set(store.observed("ns", "iris").deployments) == {"abc"}


def test_a_deployment_being_deleted_is_not_observed() -> None:
    store = ChildStore()
    deleting = child("iris-abc", "1")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    store.upsert(DEPLOYMENT, deleting)
    assert store.observed("ns", "iris").deployments == {}
    assert store.shape(DEPLOYMENT, "ns", "iris-abc") is None


def test_a_relisting_drops_what_is_gone_in_its_scope_only() -> None:
    store = ChildStore()
    store.upsert(DEPLOYMENT, child("iris-abc", "1"))
    store.upsert(DEPLOYMENT, child("iris-def", "2", revision="def"))
    store.upsert(DEPLOYMENT, child("other-abc", "3", owner="other", namespace="elsewhere"))
    changed = store.replace(DEPLOYMENT, [child("iris-abc", "1")], namespace="ns")
    assert changed == {("ns", "iris")}
    assert set(store.observed("ns", "iris").deployments) == {"abc"}
    assert set(store.observed("elsewhere", "other").deployments) == {"abc"}
    assert store.replace(DEPLOYMENT, [child("iris-abc", "1")]) == {("elsewhere", "other")}
    assert len(store) == 1


def test_an_unlabelled_object_is_no_child() -> None:
    store = ChildStore()
    stray = child("x", "1")
    stray["metadata"]["labels"] = {}
    assert store.upsert(DEPLOYMENT, stray) is None
    assert len(store) == 0
