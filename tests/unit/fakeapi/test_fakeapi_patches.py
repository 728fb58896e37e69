"""JSON merge patch, JSON patch and strategic merge patch: the functions and over HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakeapi import FakeApiServer
from tests.fakeapi.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.unit.fakeapi.support import (
    CONFIGMAPS,
    DEPLOYMENTS,
    JSON_PATCH,
    MERGE,
    MODELS,
    STRATEGIC,
    call,
    configmap,
    model,
)

# --- RFC 7386 --------------------------------------------------------------------------------

# The examples of RFC 7386 appendix A.
RFC_7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7386_EXAMPLES)
def test_merge_patch_rfc_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
keys = st.sampled_from(["a", "b", "c", "d"])
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)
objects = st.dictionaries(keys, documents, max_size=4)
null_free_objects = st.dictionaries(
    keys,
    st.recursive(
        st.booleans() | st.integers() | st.text(max_size=3),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=10,
    ),
    max_size=4,
)


@given(objects, objects)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)

    assert merge_patch(once, patch) == once


@given(objects, objects)
def test_merge_patch_leaves_its_inputs_alone(target: dict[str, Any], patch: dict[str, Any]) -> None:
    before = (copy.deepcopy(target), copy.deepcopy(patch))

    merge_patch(target, patch)

    assert (target, patch) == before


@given(objects, objects)
def test_merge_patch_sets_every_non_null_patch_value(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge_patch(target, patch)

    for key, value in patch.items():
        if value is None:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == value
    for key, value in target.items():
        if key not in patch:
            assert merged[key] == value


@given(objects, null_free_objects)
def test_a_null_free_object_merged_onto_anything_contains_itself(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = merge_patch(target, patch)

    def contains(whole: Any, part: Any) -> bool:
        if isinstance(part, dict) and part:
            return isinstance(whole, dict) and all(
                k in whole and contains(whole[k], v) for k, v in part.items()
            )
        if isinstance(part, dict):
            return isinstance(whole, dict)
        return bool(whole == part)

    assert contains(merged, patch)


# --- RFC 6902 --------------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x", "d/e": 1}

    patched = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "remove", "path": "/d~1e"},
            {"op": "copy", "from": "/a/b", "path": "/f"},
            {"op": "move", "from": "/c", "path": "/g"},
            {"op": "test", "path": "/g", "value": "y"},
        ],
    )

    assert patched == {"a": {"b": [1, 9, 2, 3]}, "f": [1, 9, 2, 3], "g": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x", "d/e": 1}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": 1},
        {"op": "add", "path": "/list/5", "value": 1},
        {"op": "add", "path": "/list/01", "value": 1},
        {"op": "move", "from": "/a", "path": "/a/b"},
        {"op": "bogus", "path": "/a"},
    ],
)
def test_json_patch_errors(operation: dict[str, Any]) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1, "list": [0]}, [operation])


def test_a_failing_json_patch_is_422_and_changes_nothing(server: FakeApiServer) -> None:
    call(server, "POST", MODELS, model("m"))

    failed = call(
        server,
        "PATCH",
        f"{MODELS}/m",
        [
            {"op": "replace", "path": "/spec/model", "value": "n"},
            {"op": "test", "path": "/spec/replicas", "value": 5},
        ],
        content_type=JSON_PATCH,
    )

    assert failed.status == 422
    assert server.get("modeldeployments", "m", "default")["spec"]["model"] == "m"  # type: ignore[index]


def test_json_patch_over_http(server: FakeApiServer) -> None:
    call(server, "POST", CONFIGMAPS, configmap("a", k="v"))

    patched = call(
        server,
        "PATCH",
        f"{CONFIGMAPS}/a",
        [{"op": "add", "path": "/data/l", "value": "w"}],
        content_type=JSON_PATCH,
    )

    assert patched.status == 200
    assert patched.body["data"] == {"k": "v", "l": "w"}


def test_nested_merge_patch_over_http(server: FakeApiServer) -> None:
    call(server, "POST", MODELS, model("m", {"a": {"b": 1, "c": 2}, "d": [1, 2]}))

    patched = call(
        server,
        "PATCH",
        f"{MODELS}/m",
        {"spec": {"a": {"b": None, "e": 3}, "d": [3]}},
        content_type=MERGE,
    )

    assert patched.body["spec"] == {"a": {"c": 2, "e": 3}, "d": [3]}


# --- strategic merge patch -----------------------------------------------------------------

POD_SPEC = {
    "containers": [
        {
            "name": "app",
            "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "ports": [{"containerPort": 80}],
        },
        {"name": "sidecar", "image": "side:1"},
    ],
    "volumes": [{"name": "data", "emptyDir": {}}],
}


def test_strategic_merge_merges_containers_by_name() -> None:
    patched = strategic_merge_patch(
        {"spec": POD_SPEC},
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "app:2",
                        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                        "ports": [{"containerPort": 8080}],
                    }
                ]
            }
        },
    )

    app, sidecar = patched["spec"]["containers"]
    assert app["image"] == "app:2"
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert app["ports"] == [{"containerPort": 80}, {"containerPort": 8080}]
    assert sidecar == {"name": "sidecar", "image": "side:1"}
    assert patched["spec"]["volumes"] == POD_SPEC["volumes"]


def test_strategic_merge_directives() -> None:
    patched = strategic_merge_patch(
        {"spec": POD_SPEC, "metadata": {"finalizers": ["a", "b"]}},
        {
            "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "containers": [{"name": "sidecar", "$patch": "delete"}],
                "volumes": [{"name": "other", "emptyDir": {}}, {"$patch": "replace"}],
            },
        },
    )

    assert patched["metadata"]["finalizers"] == ["b", "c"]
    assert [c["name"] for c in patched["spec"]["containers"]] == ["app"]
    assert patched["spec"]["volumes"] == [{"name": "other", "emptyDir": {}}]


def test_strategic_merge_conditions_by_type_and_other_lists_replaced() -> None:
    patched = strategic_merge_patch(
        {"status": {"conditions": [{"type": "A", "status": "True"}], "list": [1, 2]}},
        {"status": {"conditions": [{"type": "B", "status": "False"}], "list": [3]}},
    )

    assert [c["type"] for c in patched["status"]["conditions"]] == ["A", "B"]
    assert patched["status"]["list"] == [3]


def test_strategic_merge_patch_over_http(server: FakeApiServer) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": POD_SPEC}},
    }
    call(server, "POST", DEPLOYMENTS, deployment)

    patched = call(
        server,
        "PATCH",
        f"{DEPLOYMENTS}/d",
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "s:2"}]}}}},
        content_type=STRATEGIC,
    )

    containers = patched.body["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "app:1"), ("sidecar", "s:2")]


def test_an_unknown_patch_type_is_415(server: FakeApiServer) -> None:
    call(server, "POST", CONFIGMAPS, configmap("a"))

    refused = call(server, "PATCH", f"{CONFIGMAPS}/a", {}, content_type="application/json")

    assert refused.status == 415
