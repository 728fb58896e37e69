"""The no-op apply rule: a child is written only when what it should be differs from what it is."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.spec import parse_spec
from modeldeploy.workload import render
from modeldeploy.workload.applied import (
    HASH_ANNOTATION,
    manifest_hash,
    needs_apply,
    shape_of,
    with_applied_hash,
)

OWNER = render.Owner(name="iris", namespace="ns", uid="uid-1")


def spec(version: str = "v1", replicas: int = 2) -> Any:
    return parse_spec(
        {
            "model": {"name": "iris", "version": version, "uri": "file:///m", "format": "sklearn"},
            "replicas": replicas,
        }
    )


def as_live(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the API server hands back: defaults filled in, bookkeeping added, no kind in a
    LIST item."""
    live = copy.deepcopy(manifest)
    live.pop("kind")
    live.pop("apiVersion")
    live["metadata"].update(resourceVersion="42", uid="u", generation=3, managedFields=[{}])
    live["status"] = {"readyReplicas": 1}
    if "template" in live["spec"]:
        live["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
        live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/x"
    else:
        live["spec"]["clusterIP"] = "10.0.0.7"
        live["spec"]["sessionAffinity"] = "None"
    return live


def deployment(replicas: int = 2, version: str = "v1") -> dict[str, Any]:
    return with_applied_hash(render.build_deployment(OWNER, spec(version), "abc", replicas))


def services(canary: str | None = None) -> list[dict[str, Any]]:
    return [with_applied_hash(s) for s in render.build_services(OWNER, "abc", canary)]


def test_the_hash_does_not_depend_on_key_order_or_on_itself() -> None:
    manifest = render.build_deployment(OWNER, spec(), "abc", 2)
    reordered = dict(reversed(list(manifest.items())))
    assert manifest_hash(manifest) == manifest_hash(reordered)
    stamped = with_applied_hash(manifest)
    assert with_applied_hash(stamped) == stamped
    assert stamped["metadata"]["annotations"][HASH_ANNOTATION] == manifest_hash(manifest)
    assert "annotations" not in manifest["metadata"], "the input is left as it was"


def test_a_child_as_the_server_keeps_it_needs_no_write() -> None:
    for manifest in [deployment(), *services()]:
        live = shape_of(as_live(manifest), manifest["kind"])
        assert not needs_apply(manifest, live), manifest["metadata"]["name"]


def test_a_missing_child_is_written() -> None:
    assert needs_apply(deployment(), None)


def test_a_changed_rendering_is_written() -> None:
    live = shape_of(as_live(deployment(version="v1")), "Deployment")
    assert needs_apply(deployment(version="v2"), live)
    stable_only = services()[2]
    with_canary = services(canary="def")[2]
    assert needs_apply(with_canary, shape_of(as_live(stable_only), "Service"))


def test_hand_edits_of_the_fields_people_touch_are_taken_back() -> None:
    manifest = deployment(replicas=2)
    scaled = as_live(manifest)
    scaled["spec"]["replicas"] = 5
    assert needs_apply(manifest, shape_of(scaled, "Deployment"))
    reimaged = as_live(manifest)
    reimaged["spec"]["template"]["spec"]["containers"][0]["image"] = "other:1"
    assert needs_apply(manifest, shape_of(reimaged, "Deployment"))
    relabelled = as_live(manifest)
    relabelled["spec"]["template"]["metadata"]["labels"]["extra"] = "x"
    assert needs_apply(manifest, shape_of(relabelled, "Deployment"))

    service = services()[0]
    reselected = as_live(service)
    reselected["spec"]["selector"] = {"app": "someone-else"}
    assert needs_apply(service, shape_of(reselected, "Service"))
    reported = as_live(service)
    reported["spec"]["ports"][0]["port"] = 8080
    assert needs_apply(service, shape_of(reported, "Service"))


def test_a_child_written_by_an_older_operator_without_the_hash_is_written_once() -> None:
    manifest = deployment()
    live = as_live(manifest)
    del live["metadata"]["annotations"]
    assert needs_apply(manifest, shape_of(live, "Deployment"))


@given(replicas=st.integers(0, 50), other=st.integers(0, 50))
def test_replicas_alone_decide_for_an_otherwise_equal_deployment(replicas: int, other: int) -> None:
    live = shape_of(as_live(deployment(replicas=other)), "Deployment")
    assert needs_apply(deployment(replicas=replicas), live) == (replicas != other)
