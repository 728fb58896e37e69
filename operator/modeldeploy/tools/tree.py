"""`kubectl modeldeploy get`: the ModelDeployment as a tree, its revisions (stable, canary,
previous, rolled back) with version, weight and Ready replicas, their Deployments, and the
checks with value, bound and verdict. Pure: the object and its Deployments in, lines out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from modeldeploy.analysis.verdict import format_value
from modeldeploy.api.names import LABEL_REVISION
from modeldeploy.api.status import (
    CheckStatus,
    ModelDeploymentStatus,
    RevisionStatus,
    parse_status_leniently,
)
from modeldeploy.tools import verdict as v

GOOD, BAD, WARN, HELD, BUSY, PLAIN = "good", "bad", "warn", "held", "busy", "plain"
_COLOURS = {GOOD: "32", BAD: "31", WARN: "33", HELD: "33", BUSY: "36"}
_STATE_TONES = {
    v.READY: GOOD,
    v.ROLLED_BACK: BAD,
    v.DEGRADED: BAD,
    v.FAILED: BAD,
    v.PAUSED_PHASE: HELD,
    v.AWAITING_APPROVAL: HELD,
    v.UNKNOWN: WARN,
}
_VERDICT_TONES = {"Pass": GOOD, "Fail": BAD, "Error": BAD, "Inconclusive": WARN}


@dataclass(frozen=True)
class Symbols:
    good: str
    bad: str
    warn: str
    held: str
    busy: str
    branch: str
    last: str
    pipe: str

    def of(self, tone: str) -> str:
        marks = {GOOD: self.good, BAD: self.bad, WARN: self.warn, HELD: self.held, BUSY: self.busy}
        return marks.get(tone, "")


# As `kubectl argo rollouts get` marks them.
UNICODE = Symbols("✔", "✖", "⚠", "॥", "◌", "├──", "└──", "│  ")
ASCII = Symbols("+", "x", "!", "=", "~", "|--", "`--", "|  ")


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    status: str
    info: str = ""
    tone: str = PLAIN
    children: tuple[Node, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Tree:
    namespace: str
    name: str
    state: str
    summary: str
    """The verdict's line: the phase and what the rollout waits for."""
    generation: int | None
    observed_generation: int | None
    root: Node

    def document(self) -> dict[str, Any]:
        """The tree as JSON for `get -o json`."""
        document = asdict(self)
        document["root"] = _plain(self.root)
        return document


def build_tree(body: Mapping[str, Any], deployments: Sequence[Mapping[str, Any]] | None) -> Tree:
    """The tree of `body` (a ModelDeployment) and `deployments` (those labelled with its name;
    None when they could not be read)."""
    meta = body.get("metadata") or {}
    name = str(meta.get("name", ""))
    judged = v.judge(body)
    try:
        status, _unknown = parse_status_leniently(body.get("status"))
    except ValidationError:
        status = ModelDeploymentStatus()
    by_revision: dict[str, list[Mapping[str, Any]]] = {}
    for deployment in deployments or []:
        labels = (deployment.get("metadata") or {}).get("labels") or {}
        by_revision.setdefault(str(labels.get(LABEL_REVISION, "")), []).append(deployment)

    weight, effective = status.weight or 0, status.effective_weight
    children: list[Node] = []
    tracked: set[str] = set()
    for track, revision, share, shown in (
        ("stable", status.stable, 100 - weight, None if effective is None else 100 - effective),
        ("canary", status.canary, weight, effective),
        ("previous", status.previous, 0, None),
    ):
        if revision is None or revision.revision in tracked:
            continue
        tracked.add(revision.revision)
        children.append(
            _revision_node(track, revision, share, shown, by_revision, deployments is None)
        )
    rolled_back = status.rolled_back
    if rolled_back is not None and rolled_back.revision not in tracked:
        tracked.add(rolled_back.revision)
        found = by_revision.get(rolled_back.revision, [])
        children.append(
            Node(
                "rolled back",
                "Revision",
                "rolled back",
                f"{rolled_back.version} ({rolled_back.revision}): {rolled_back.reason}",
                BAD,
                tuple(_deployment_node(d) for d in found),
            )
        )
    others = [d for rev, found in sorted(by_revision.items()) if rev not in tracked for d in found]
    if others:
        children.append(
            Node(
                "untracked",
                "Deployments",
                str(len(others)),
                "of revisions the status no longer names",
                PLAIN,
                tuple(_deployment_node(d) for d in others),
            )
        )
    if status.checks:
        children.append(_checks_node(status.checks))

    rollout = status.rollout
    info = []
    if rollout is not None and rollout.step is not None:
        info.append(f"step {rollout.step + 1}")
    if status.canary is not None or weight:
        shown_weight = f"weight {weight}%"
        if effective is not None and effective != weight:
            shown_weight += f" (effective {effective}%)"
        info.append(shown_weight)
    root = Node(
        name,
        "ModelDeployment",
        judged.state,
        ", ".join(info),
        _STATE_TONES.get(judged.state, BUSY),
        tuple(children),
    )
    generation = meta.get("generation")
    return Tree(
        namespace=str(meta.get("namespace", "")),
        name=name,
        state=judged.state,
        summary=judged.line(),
        generation=generation if isinstance(generation, int) else None,
        observed_generation=status.observed_generation,
        root=root,
    )


def render_tree(tree: Tree, color: bool = False, symbols: Symbols = UNICODE) -> list[str]:
    """The lines `get` prints: a header, then the tree in aligned columns."""
    paint = _painter(color)
    generation = "-" if tree.generation is None else str(tree.generation)
    observed = "-" if tree.observed_generation is None else str(tree.observed_generation)
    tone = _STATE_TONES.get(tree.state, BUSY)
    lines = [
        f"Name:        {tree.name}",
        f"Namespace:   {tree.namespace}",
        f"Status:      {paint(_marked(symbols, tone, tree.summary), tone)}",
        f"Generation:  {generation} (observed {observed})",
        "",
    ]
    rows: list[tuple[str, str, str, str, str]] = [("NAME", "KIND", "STATUS", "INFO", PLAIN)]
    for prefix, node in _walk(tree.root, symbols):
        status = _marked(symbols, node.tone, node.status)
        rows.append((prefix + node.name, node.kind, status, node.info, node.tone))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, kind, status, info, row_tone in rows:
        cells = [
            name.ljust(widths[0]),
            kind.ljust(widths[1]),
            paint(status, row_tone) + " " * (widths[2] - len(status)),
            info,
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _plain(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "kind": node.kind,
        "status": node.status,
        "info": node.info,
        "tone": node.tone,
        "children": [_plain(child) for child in node.children],
    }


def _revision_node(
    track: str,
    revision: RevisionStatus,
    weight: int,
    effective: int | None,
    by_revision: Mapping[str, list[Mapping[str, Any]]],
    deployments_unknown: bool,
) -> Node:
    ready, replicas = revision.ready_replicas, revision.replicas
    share = f"weight {weight}%"
    if effective is not None and effective != weight:
        share += f" (effective {effective}%)"
    found = by_revision.get(revision.revision, [])
    children = tuple(_deployment_node(d) for d in found)
    if not found:
        if deployments_unknown:
            children = (Node(revision.deployment, "Deployment", "unknown", "not readable", WARN),)
        else:
            children = (Node(revision.deployment, "Deployment", "missing", "", WARN),)
    return Node(
        track,
        "Revision",
        f"{ready}/{replicas} ready",
        f"{revision.version} ({revision.revision}), {share}",
        _replicas_tone(ready, replicas),
        children,
    )


def _deployment_node(deployment: Mapping[str, Any]) -> Node:
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    info = "" if updated >= replicas else f"{updated}/{replicas} up to date"
    if meta.get("deletionTimestamp"):
        info = "being deleted"
    return Node(
        str(meta.get("name", "")),
        "Deployment",
        f"{ready}/{replicas} ready",
        info,
        _replicas_tone(ready, replicas),
    )


def _checks_node(checks: Sequence[CheckStatus]) -> Node:
    children = []
    for check in checks:
        parts = []
        if check.value is not None:
            parts.append(format_value(check.value))
        if check.stable_value is not None:
            parts.append(f"stable {format_value(check.stable_value)}")
        if check.bound:
            parts.append(f"bound {check.bound}")
        if check.value is None and check.message:
            parts.insert(0, check.message)  # what was measured, or why nothing was
        info = ", ".join(parts)
        tone = _VERDICT_TONES.get(check.verdict, PLAIN)
        children.append(Node(check.name, "Check", check.verdict, info, tone))
    failing = sum(1 for c in checks if _VERDICT_TONES.get(c.verdict) == BAD)
    waiting = sum(1 for c in checks if _VERDICT_TONES.get(c.verdict) == WARN)
    passed = sum(1 for c in checks if c.verdict == "Pass")
    summary = f"{passed}/{len(checks)} passed"
    tone = BAD if failing else WARN if waiting else GOOD
    return Node("checks", "Checks", summary, "", tone, tuple(children))


def _replicas_tone(ready: int, replicas: int) -> str:
    if replicas == 0:
        return PLAIN
    return GOOD if ready >= replicas else BUSY


def _walk(node: Node, symbols: Symbols, lead: str = "", prefix: str = "") -> list[tuple[str, Node]]:
    rows = [(prefix, node)]
    for index, child in enumerate(node.children):
        last = index == len(node.children) - 1
        branch = symbols.last if last else symbols.branch
        below = lead + (" " * len(symbols.pipe) if last else symbols.pipe)
        rows.extend(_walk(child, symbols, below, lead + branch))
    return rows


def _marked(symbols: Symbols, tone: str, text: str) -> str:
    mark = symbols.of(tone)
    return f"{mark} {text}" if mark else text


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(text: str, tone: str) -> str:
        code = _COLOURS.get(tone)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code else text

    return paint
