"""The status patch against RFC 7386: what the API server keeps is what was decided."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.runtime import mergepatch

keys = st.sampled_from(["rollout", "preflight", "phase", "step", "shadow", "at", "checks"])
scalars = st.one_of(st.integers(-3, 3), st.text(max_size=3), st.booleans())
values = st.recursive(
    st.one_of(scalars, st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, max_size=5)


def stored(value: Any) -> Any:
    """A document as the API server keeps it: no nulls in objects."""
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [stored(v) for v in value]
    return value


@settings(max_examples=2000)
@given(current=documents, desired=documents)
def test_applying_the_diff_gives_what_was_decided(
    current: dict[str, Any], desired: dict[str, Any]
) -> None:
    kept = stored(current)
    assert mergepatch.apply(kept, mergepatch.diff(kept, desired)) == stored(desired)


@given(document=documents)
def test_nothing_to_write_when_nothing_changed(document: dict[str, Any]) -> None:
    assert mergepatch.diff(stored(document), document) == {}


def test_a_nested_key_the_new_state_lacks_is_removed() -> None:
    current = {"rollout": {"revision": "r2", "preflight": {"phase": "Passed"}, "step": 1}}
    desired = {"rollout": {"revision": "r3", "step": 0}}
    patch = mergepatch.diff(current, desired)
    assert patch == {"rollout": {"revision": "r3", "step": 0, "preflight": None}}
    assert mergepatch.apply(current, patch) == desired


def test_apply_follows_the_rfc_examples() -> None:
    # RFC 7386, appendix A (a selection).
    assert mergepatch.apply({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert mergepatch.apply({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert mergepatch.apply({"a": "b"}, {"a": None}) == {}
    assert mergepatch.apply({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert mergepatch.apply({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert mergepatch.apply({"a": "foo"}, "bar") == "bar"
    assert mergepatch.apply({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
