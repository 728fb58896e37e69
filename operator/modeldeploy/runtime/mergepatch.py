"""JSON merge patches (RFC 7386), as the API server applies them to a status.

A merge patch merges nested objects key by key: a key the patch leaves out keeps its old value.
So a patch that replaces `status.rollout` with the state of a new rollout must name every key of
the old one that the new one does not carry, set to null, or the API server keeps them; a new
rollout would then inherit the old one's passed preflight or shadow record.
"""

from __future__ import annotations

from typing import Any


def diff(current: Any, desired: Any) -> Any:
    """The merge patch that turns `current` into `desired`.

    Objects are compared key by key, all the way down; a key of `current` absent from (or None
    in) `desired` is set to null. Lists and scalars are replaced whole, as RFC 7386 does. Where
    both are objects and nothing differs, the patch is {}.
    """
    if not isinstance(current, dict) or not isinstance(desired, dict):
        return _without_nulls(desired)
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            continue
        if key not in current or current[key] is None:
            patch[key] = _without_nulls(value)
            continue
        if isinstance(value, dict) and isinstance(current[key], dict):
            nested = diff(current[key], value)
            if nested != {}:
                patch[key] = nested
        elif current[key] != (stored := _without_nulls(value)):
            patch[key] = stored
    for key, value in current.items():
        if value is not None and desired.get(key) is None:
            patch[key] = None
    return patch


def apply(target: Any, patch: Any) -> Any:
    """`target` with `patch` merged into it, as RFC 7386 section 2 describes."""
    if not isinstance(patch, dict):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply(result.get(key), value)
    return result


def _without_nulls(value: Any) -> Any:
    """What the API server stores for `value` sent in a merge patch: nulls inside new objects
    name nothing to remove, and are dropped."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
