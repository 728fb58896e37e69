"""docs/troubleshooting.md keeps up with the operator: its table of Event reasons lists every
reason the operator emits by name, and names none it does not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "operator" / "modeldeploy"
DOC = REPO / "docs" / "troubleshooting.md"


def string_constants() -> set[str]:
    found = set()
    for path in OPERATOR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def emitted_reasons() -> set[str]:
    """Reasons written as a literal: `draft.emit(type, "Reason", ...)`, `Event(type, "Reason",
    ...)`."""
    found = set()
    for path in OPERATOR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            kind, reason = node.args[0], node.args[1]
            if (
                called in ("emit", "Event")
                and isinstance(kind, ast.Constant)
                and kind.value in ("Normal", "Warning")
                and isinstance(reason, ast.Constant)
            ):
                found.add(str(reason.value))
    return found


def documented_reasons() -> set[str]:
    text = DOC.read_text()
    table = text.split("## Event reasons", 1)[1].split("\n## ", 1)[0]
    reasons = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            reasons.update(re.findall(r"`([A-Za-z]+)`", first_cell))
    return reasons


def test_every_reason_the_operator_emits_is_explained() -> None:
    missing = emitted_reasons() - documented_reasons()
    assert not missing, f"docs/troubleshooting.md does not explain {sorted(missing)}"


def test_every_reason_explained_is_one_the_operator_has() -> None:
    unknown = documented_reasons() - string_constants()
    assert not unknown, f"docs/troubleshooting.md explains reasons the operator lacks: {unknown}"


def test_the_readme_links_it() -> None:
    assert "(docs/troubleshooting.md)" in (REPO / "README.md").read_text()
