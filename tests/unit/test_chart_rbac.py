"""The chart grants the operator every API call its shell makes.

The fake API server does not enforce RBAC, so a call added to the shell without its grant would
pass every unit test and fail only on a cluster, as a 403 on each reconcile. Every call the
shell makes is counted by `metrics.count_request(verb, resource)`; this test reads those calls
from the source (and the children `Kube.get_child` reads by name) and checks the chart's
rendered Roles and ClusterRoles allow each.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import REPO, built
from modeldeploy.shell.kube import CHILD_RESOURCES

SHELL = REPO / "operator" / "modeldeploy" / "shell"
CHART = REPO / "charts" / "modeldeploy"
# What each counted verb needs: server-side apply makes the object when it is missing.
NEEDS = {"apply": ("create", "patch")}


def counted_calls(root: Path) -> set[tuple[str, str]]:
    """(verb, resource) of every `count_request("verb", "resource")` with literal arguments."""
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "count_request"
                and len(node.args) == 2
                and all(isinstance(a, ast.Constant) for a in node.args)
            ):
                verb, resource = (a.value for a in node.args if isinstance(a, ast.Constant))
                found.add((str(verb), str(resource)))
    return found


def granted(rules: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for rule in rules:
        for resource in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                yield verb, resource


@pytest.fixture(scope="module")
def grants() -> set[tuple[str, str]]:
    rendered = subprocess.run(
        [str(built("build-helm.sh")), "template", "modeldeploy", str(CHART)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    roles = [
        d for d in yaml.safe_load_all(rendered) if d and d.get("kind") in {"Role", "ClusterRole"}
    ]
    return {grant for role in roles for grant in granted(role.get("rules") or [])}


def test_the_source_is_read() -> None:
    calls = counted_calls(SHELL)
    assert ("patch", "modeldeployments/status") in calls
    assert ("apply", "deployments") in calls


def test_every_call_of_the_shell_is_granted_by_the_chart(grants: set[tuple[str, str]]) -> None:
    calls = counted_calls(SHELL) | {("get", r) for r in CHILD_RESOURCES.values()}
    missing = sorted(
        f"{needed} {resource}"
        for verb, resource in calls
        for needed in NEEDS.get(verb, (verb,))
        if (needed, resource) not in grants and ("*", resource) not in grants
    )
    assert not missing, f"the chart's RBAC lacks: {missing}"
