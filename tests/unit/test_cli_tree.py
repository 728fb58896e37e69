"""`kubectl modeldeploy get`'s tree, rendered from a status and the Deployments: pure."""

from __future__ import annotations

import json
import re
from typing import Any

from modeldeploy.tools.tree import ASCII, build_tree, render_tree

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def deployment(revision: str, replicas: int, ready: int, updated: int | None = None) -> Any:
    return {
        "metadata": {
            "name": f"fraud-{revision}",
            "labels": {"modeldeploy.io/name": "fraud", "modeldeploy.io/revision": revision},
        },
        "spec": {"replicas": replicas},
        "status": {
            "readyReplicas": ready,
            "updatedReplicas": replicas if updated is None else updated,
        },
    }


def revision(rev: str, version: str, replicas: int, ready: int) -> dict[str, Any]:
    return {
        "revision": rev,
        "version": version,
        "deployment": f"fraud-{rev}",
        "replicas": replicas,
        "readyReplicas": ready,
    }


CANARY = {
    "metadata": {"name": "fraud", "namespace": "ml", "generation": 3},
    "status": {
        "observedGeneration": 3,
        "phase": "AwaitingApproval",
        "message": "step 1/2 at weight 25%",
        "revision": "r2",
        "weight": 25,
        "effectiveWeight": 20,
        "stable": revision("r1", "v1", 3, 3),
        "canary": revision("r2", "v2", 1, 1),
        "previous": revision("r0", "v0", 0, 0),
        "rollout": {"revision": "r2", "version": "v2", "startedAt": "t", "step": 0},
        "checks": [
            {"name": "error-rate", "verdict": "Pass", "value": 0.002, "bound": "max 0.01"},
            {"name": "latency-p99", "verdict": "Fail", "value": 0.5, "stableValue": 0.2,
             "bound": "max 0.3", "message": "0.500 > max 0.3"},
            {"name": "drift", "verdict": "Inconclusive", "message": "no data"},
        ],
    },
}  # fmt: skip
DEPLOYMENTS = [
    deployment("r1", 3, 3),
    deployment("r2", 1, 0),
    deployment("r0", 0, 0),
    deployment("old", 0, 0),
]


def rows(lines: list[str]) -> dict[str, list[str]]:
    """The table's rows by name (tree drawing dropped), as their columns."""
    start = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    found = {}
    for line in lines[start + 1 :]:
        columns = re.split(r"\s{2,}", line.lstrip("├└│─ |`-"))
        found[columns[0]] = columns[1:]
    return found


def test_the_tree_shows_each_revision_with_version_weight_and_ready_replicas() -> None:
    lines = render_tree(build_tree(CANARY, DEPLOYMENTS))
    assert lines[:4] == [
        "Name:        fraud",
        "Namespace:   ml",
        "Status:      ॥ AwaitingApproval - step 1/2 at weight 25%; "
        "waiting for an approval: kubectl modeldeploy promote fraud",
        "Generation:  3 (observed 3)",
    ]
    table = rows(lines)
    assert table["fraud"] == [
        "ModelDeployment", "॥ AwaitingApproval", "step 1, weight 25% (effective 20%)"
    ]  # fmt: skip
    assert table["stable"] == ["Revision", "✔ 3/3 ready", "v1 (r1), weight 75% (effective 80%)"]
    assert table["canary"] == ["Revision", "✔ 1/1 ready", "v2 (r2), weight 25% (effective 20%)"]
    assert table["previous"] == ["Revision", "0/0 ready", "v0 (r0), weight 0%"]


def test_each_revision_has_its_deployment_by_the_revision_label() -> None:
    lines = render_tree(build_tree(CANARY, DEPLOYMENTS))
    kind_at = lines[5].index("KIND")
    names = [line[:kind_at].rstrip() for line in lines[6:]]
    assert names[:9] == [
        "fraud",
        "├──stable",
        "│  └──fraud-r1",
        "├──canary",
        "│  └──fraud-r2",
        "├──previous",
        "│  └──fraud-r0",
        "├──untracked",
        "│  └──fraud-old",
    ]
    table = rows(lines)
    assert table["fraud-r1"] == ["Deployment", "✔ 3/3 ready"]
    assert table["fraud-r2"] == ["Deployment", "◌ 0/1 ready"]
    assert table["untracked"] == ["Deployments", "1", "of revisions the status no longer names"]


def test_the_checks_show_value_bound_and_verdict() -> None:
    table = rows(render_tree(build_tree(CANARY, DEPLOYMENTS)))
    assert table["checks"] == ["Checks", "✖ 1/3 passed"]
    assert table["error-rate"] == ["Check", "✔ Pass", "0.002, bound max 0.01"]
    assert table["latency-p99"] == ["Check", "✖ Fail", "0.500, stable 0.200, bound max 0.3"]
    assert table["drift"] == ["Check", "⚠ Inconclusive", "no data"]


def test_the_columns_line_up() -> None:
    lines = render_tree(build_tree(CANARY, DEPLOYMENTS))
    table = lines[lines.index("") + 1 :]
    kind_at = table[0].index("KIND")
    status_at = table[0].index("STATUS")
    for line in table[1:]:
        assert line[kind_at - 2 : kind_at] == "  " and line[kind_at] != " "
        assert line[status_at - 2 : status_at] == "  " and line[status_at] != " "


def test_colour_only_when_asked_and_the_same_text_under_it() -> None:
    tree = build_tree(CANARY, DEPLOYMENTS)
    plain = render_tree(tree)
    coloured = render_tree(tree, color=True)
    assert not any(ANSI.search(line) for line in plain)
    assert [ANSI.sub("", line) for line in coloured] == plain
    assert "\x1b[32m✔ Pass\x1b[0m" in "\n".join(coloured)
    assert "\x1b[31m✖ Fail\x1b[0m" in "\n".join(coloured)


def test_ascii_symbols_for_a_terminal_without_unicode() -> None:
    text = "\n".join(render_tree(build_tree(CANARY, DEPLOYMENTS), symbols=ASCII))
    assert text.isascii()
    assert "|--stable" in text and "`--checks" in text and "+ Pass" in text


def test_a_revision_without_its_deployment_says_missing_or_unknown() -> None:
    missing = rows(render_tree(build_tree(CANARY, [deployment("r1", 3, 3)])))
    assert missing["fraud-r2"] == ["Deployment", "⚠ missing"]
    unknown = rows(render_tree(build_tree(CANARY, None)))
    assert unknown["fraud-r1"] == ["Deployment", "⚠ unknown", "not readable"]


def test_a_rolled_back_revision_shows_why_with_its_deployment_at_zero() -> None:
    body = {
        "metadata": {"name": "fraud", "namespace": "ml", "generation": 4},
        "status": {
            "observedGeneration": 4,
            "phase": "RolledBack",
            "message": "revision r3 (v3) was rolled back: error-rate 0.2 > max 0.05",
            "revision": "r3",
            "stable": revision("r2", "v2", 3, 3),
            "rolledBack": {"revision": "r3", "version": "v3", "at": "t",
                           "reason": "error-rate 0.2 > max 0.05"},
        },
    }  # fmt: skip
    lines = render_tree(build_tree(body, [deployment("r2", 3, 3), deployment("r3", 0, 0)]))
    assert lines[2].startswith("Status:      ✖ RolledBack - revision r3 (v3) was rolled back")
    table = rows(lines)
    assert table["rolled back"] == [
        "Revision",
        "✖ rolled back",
        "v3 (r3): error-rate 0.2 > max 0.05",
    ]
    assert table["fraud-r3"] == ["Deployment", "0/0 ready"]
    assert "untracked" not in table


def test_an_object_without_status_is_a_tree_of_one() -> None:
    body = {"metadata": {"name": "fraud", "namespace": "ml", "generation": 1}}
    lines = render_tree(build_tree(body, []))
    assert lines[2] == "Status:      ◌ Progressing - waiting for the operator to take it up"
    assert lines[3] == "Generation:  1 (observed -)"
    assert lines[-1].split() == ["fraud", "ModelDeployment", "◌", "Progressing"]


def test_the_json_document_is_the_same_tree() -> None:
    document = build_tree(CANARY, DEPLOYMENTS).document()
    assert json.loads(json.dumps(document)) == document
    assert document["state"] == "AwaitingApproval"
    root = document["root"]
    assert [c["name"] for c in root["children"]] == [
        "stable", "canary", "previous", "untracked", "checks"
    ]  # fmt: skip
    assert root["children"][0]["children"][0] == {
        "name": "fraud-r1", "kind": "Deployment", "status": "3/3 ready", "info": "",
        "tone": "good", "children": [],
    }  # fmt: skip
