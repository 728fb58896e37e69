"""Whether a new revision's model still takes what clients send and gives what they read.

Compares two Open Inference Protocol model metadata documents (`GET /v2/models/{name}`). An
input the clients send must still be there with the same datatype and a shape that takes what
it took; an input the new model adds is one clients do not send. An output clients read must
still be there with the same datatype and rank; new outputs harm no one.
"""

from __future__ import annotations

from typing import Any


def schema_changes(stable: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """The incompatible differences, each in words; empty when the candidate is compatible."""
    changes: list[str] = []
    old_inputs, new_inputs = _tensors(stable, "inputs"), _tensors(candidate, "inputs")
    for name, old in old_inputs.items():
        new = new_inputs.get(name)
        if new is None:
            changes.append(f"input {name} was removed or renamed")
            continue
        changes.extend(_datatype_change("input", name, old, new))
        if not _takes(old.get("shape"), new.get("shape")):
            changes.append(
                f"input {name}: shape {old.get('shape')} became {new.get('shape')}, "
                "which does not take what clients send"
            )
    for name in new_inputs.keys() - old_inputs.keys():
        changes.append(f"input {name} is new: clients do not send it")
    old_outputs, new_outputs = _tensors(stable, "outputs"), _tensors(candidate, "outputs")
    for name, old in old_outputs.items():
        new = new_outputs.get(name)
        if new is None:
            changes.append(f"output {name} was removed or renamed")
            continue
        changes.extend(_datatype_change("output", name, old, new))
        if not _same_rank_and_dims(old.get("shape"), new.get("shape")):
            changes.append(f"output {name}: shape {old.get('shape')} became {new.get('shape')}")
    return sorted(changes)


def _tensors(metadata: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    found = metadata.get(kind)
    if not isinstance(found, list):
        return {}
    return {str(t["name"]): t for t in found if isinstance(t, dict) and "name" in t}


def _datatype_change(kind: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old.get("datatype") == new.get("datatype"):
        return []
    return [f"{kind} {name}: datatype {old.get('datatype')} became {new.get('datatype')}"]


def _takes(old: Any, new: Any) -> bool:
    """A new input shape takes every tensor the old one took: same rank, and each dimension
    the same or variable (-1) in the new one."""
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return False
    return all(n == -1 or n == o for o, n in zip(old, new, strict=True))


def _same_rank_and_dims(old: Any, new: Any) -> bool:
    """An output keeps its rank and every fixed dimension; a variable one may become fixed."""
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return False
    return all(o == -1 or n == o for o, n in zip(old, new, strict=True))
