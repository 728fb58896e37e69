"""Writes the API reference, docs/reference.md, from the CRDs' schemas (`make reference`).

A section per kind; in it, a table per object of its fields: type, default, whether it is
required, and the description `kubectl explain` shows. An object met in several places (the
spec's serving again under status.stable.source, a rollout's checks under a policy's defaults)
is described where it is first met (ModelDeployment's spec, then ClusterRolloutPolicy's spec,
then status) and linked from the others. The defaults are the operator's: the CRDs leave them
out (see crdgen), so they come from the same models through `with_defaults`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.api import policy, spec
from modeldeploy.tools import crdgen

JsonSchema = dict[str, Any]

# Patterns the models share, by what they accept.
_NAMED_PATTERNS = {
    spec.DURATION_PATTERN: "duration",
    spec.QUANTITY_PATTERN: "quantity",
    spec.DNS_LABEL_PATTERN: "DNS label",
    spec.DNS_SUBDOMAIN_PATTERN: "DNS subdomain",
    spec.LABEL_VALUE_PATTERN: "label value",
    spec.LABEL_VALUE_OR_EMPTY_PATTERN: "label value or empty",
    spec.SHA256_PATTERN: "64 hex digits",
    spec.ENV_NAME_PATTERN: "variable name",
    spec.URI_PATTERN: "file://, http(s):// or s3:// URI",
    r"^https?://.+$": "http(s) URL",
    r"^[0-9]+%$": "percentage",
}
# Keys of a node that belong to the field it sits in, not to the object it holds.
_FIELD_KEYS = {"description", "default", "nullable"}


@dataclass
class _Section:
    """One object of a schema, described once."""

    kind: str
    path: str
    node: JsonSchema
    anchor: str
    also_at: list[tuple[str, str]] = field(default_factory=list)
    """(kind, path) of the other places it appears, other than within one of these."""
    descriptions: list[str] = field(default_factory=list)
    """The description of each place it appears."""


@dataclass
class _Kind:
    name: str
    crd: JsonSchema
    root: JsonSchema = field(default_factory=dict)
    sections: list[_Section] = field(default_factory=list)


def _anchor(kind: str, path: str) -> str:
    return kind.lower() + "-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def _identity(node: JsonSchema) -> str:
    """What makes two places hold the same object: its schema, less what belongs to the
    field it is in."""
    return json.dumps({k: v for k, v in node.items() if k not in _FIELD_KEYS}, sort_keys=True)


def _children(path: str, node: JsonSchema) -> Iterator[tuple[str, JsonSchema]]:
    """The schema nodes directly under `node`, with their paths."""
    for name, child in (node.get("properties") or {}).items():
        yield (f"{path}.{name}" if path else name), child
    if isinstance(node.get("items"), dict):
        yield f"{path}[]", node["items"]
    if isinstance(node.get("additionalProperties"), dict):
        yield f"{path}{{}}", node["additionalProperties"]


class _Index:
    """Every object of the schemas, each described in one section."""

    def __init__(self) -> None:
        self.by_identity: dict[str, _Section] = {}

    def collect(self, kind: _Kind, path: str, node: JsonSchema) -> None:
        if "properties" in node:
            key = _identity(node)
            section = self.by_identity.get(key)
            if section is None:
                section = _Section(kind.name, path, node, _anchor(kind.name, path))
                self.by_identity[key] = section
                kind.sections.append(section)
            section.descriptions.append(str(node.get("description", "")))
            if section.path != path or section.kind != kind.name:
                # Described where it was first met, and what it holds with it.
                section.also_at.append((kind.name, path))
                return
        for child_path, child in _children(path, node):
            self.collect(kind, child_path, child)

    def section_of(self, node: JsonSchema) -> _Section | None:
        return self.by_identity.get(_identity(node)) if "properties" in node else None


def _text(text: str) -> str:
    """A description fit for a table cell: one line, nothing Markdown would take as markup."""
    text = " ".join(text.split())
    for char, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return text.replace("|", "\\|").replace("*", "\\*")


def _bounds(node: JsonSchema, low: str, high: str, unit: str = "") -> str:
    lower, upper = node.get(low), node.get(high)
    if (
        lower is not None
        and upper is not None
        and not (node.get("exclusiveMinimum") or node.get("exclusiveMaximum"))
    ):
        return f"{lower} to {upper}{unit}"
    parts = []
    if lower is not None:
        parts.append(f"{'>' if node.get('exclusiveMinimum') else '≥'} {lower}{unit}")
    if upper is not None:
        parts.append(f"{'<' if node.get('exclusiveMaximum') else '≤'} {upper}{unit}")
    return ", ".join(parts)


Link = Callable[[_Section, str], str]


def _type(node: JsonSchema, path: str, index: _Index, link: Link) -> str:
    """The type of the node at `path` in a few words, with what bounds it and a link to the
    section of its object."""
    section = index.section_of(node)
    if section is not None:
        return link(section, path)
    if node.get("x-kubernetes-int-or-string"):
        named = _NAMED_PATTERNS.get(str(node.get("pattern")))
        return f"integer or string ({named})" if named else "integer or string"
    kind = node.get("type")
    if kind == "array":
        items = _type(node.get("items") or {}, f"{path}[]", index, link)
        count = _bounds(node, "minItems", "maxItems", " items")
        unique = ", unique" if node.get("x-kubernetes-list-type") == "set" else ""
        return f"array of {items}" + (f" ({count}{unique})" if count or unique else "")
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        values = _type(node["additionalProperties"], f"{path}{{}}", index, link)
        count = _bounds(node, "minProperties", "maxProperties", " entries")
        return f"map of {values}" + (f" ({count})" if count else "")
    if kind == "object" or (kind is None and node.get("x-kubernetes-preserve-unknown-fields")):
        return "object (any fields)" if kind == "object" else "any"
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    if kind == "string":
        named = _NAMED_PATTERNS.get(str(node.get("pattern")))
        return f"string ({named})" if named else "string"
    bounds = _bounds(node, "minimum", "maximum")
    return f"{kind} ({bounds})" if bounds else str(kind)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _default(node: JsonSchema) -> str:
    value = _without_nulls(node.get("default"))
    if value is None:
        return ""
    if isinstance(value, dict) and "properties" in node:
        own = {
            name: _without_nulls(prop["default"])
            for name, prop in node["properties"].items()
            if prop.get("default") is not None
        }
        if value == own:
            return "its fields' defaults"
    shown = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return f"`{shown.removesuffix('...').strip()}`"


def _rules(node: JsonSchema) -> list[str]:
    """The CEL rules of the object and of its fields, as bullet points."""
    lines = [f"- {_text(rule['message'])}" for rule in node.get("x-kubernetes-validations", [])]
    for name, prop in (node.get("properties") or {}).items():
        if "properties" in prop:
            continue  # an object's rules are said in its own section
        for rule in prop.get("x-kubernetes-validations", []):
            lines.append(f"- `{name}`: {_text(rule['message'])}")
    return lines


def _table(node: JsonSchema, path: str, index: _Index, link: Link) -> list[str]:
    # Status is the operator's to write: the defaults of its models are no one's to rely on.
    defaults = not path.startswith("status")
    required = set(node.get("required", []))
    lines = [
        "| Field | Type | Default | Required | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, prop in node["properties"].items():
        prop_path = f"{path}.{name}" if path else name
        lines.append(
            f"| `{name}` | {_type(prop, prop_path, index, link)} | "
            f"{_default(prop) if defaults else ''} | "
            f"{'yes' if name in required else ''} | {_text(str(prop.get('description', '')))} |"
        )
    return lines


def _linker(kind: _Kind) -> Link:
    """Links to sections from the tables of `kind`; one described elsewhere says where."""

    def link(section: _Section, path: str) -> str:
        if section.kind == kind.name and section.path == path:
            return f"[object](#{section.anchor})"
        where = (
            f"`{section.path}`" if section.kind == kind.name else f"{section.kind} `{section.path}`"
        )
        return f"[object](#{section.anchor}) as at {where}"

    return link


def _kind_lines(kind: _Kind, index: _Index) -> list[str]:
    crd_spec = kind.crd["spec"]
    names = crd_spec["names"]
    link = _linker(kind)
    short = ", ".join(f"`{name}`" for name in names.get("shortNames", []))
    lines = [
        f'<a id="{kind.name.lower()}"></a>',
        "",
        f"## {kind.name}",
        "",
        f"`apiVersion: {crd_spec['group']}/{crd_spec['versions'][0]['name']}`, "
        f"`kind: {kind.name}`; {crd_spec['scope'].lower()}"
        + (f"; short name {short}" if short else "")
        + ".",
        "",
        _text(str(kind.root.get("description", ""))),
        "",
        *_table(kind.root, "", index, link),
    ]
    rules = _rules(kind.root)
    if rules:
        lines += ["", "Rules:", "", *rules]
    for section in kind.sections:
        lines += ["", f'<a id="{section.anchor}"></a>', "", f"### `{section.path}`", ""]
        if len(set(section.descriptions)) == 1 and section.descriptions[0]:
            lines += [_text(section.descriptions[0]), ""]
        if section.also_at:
            places = ", ".join(
                f"`{path}`" if where == kind.name else f"{where} `{path}`"
                for where, path in section.also_at
            )
            lines += [f"Also at {places}.", ""]
        lines += _table(section.node, section.path, index, link)
        rules = _rules(section.node)
        if rules:
            lines += ["", "Rules:", "", *rules]
    return lines


_PREAMBLE = """\
# API reference

Generated from the operator's models by `make reference`
(`python -m modeldeploy.tools.refdoc docs/reference.md`); do not edit it by hand. The
descriptions are the ones `kubectl explain` shows, e.g. `kubectl explain mdep.spec.rollout`.

- **Default** is what the operator uses when a field is left out. The CRDs carry no defaults,
  so the API server never writes them into your objects: a ClusterRolloutPolicy's
  `defaults.rollout` fills what a ModelDeployment leaves out, and the rest takes these.
- **duration**: numbers with a unit each, `ms`, `s`, `m` or `h`: `30s`, `1m30s`, `1.5h`.
- An object that appears in several places is described where it first appears and linked
  from the others.
"""


def render() -> str:
    """docs/reference.md, as it should be."""
    kinds = [
        _Kind(spec.KIND, crdgen.model_deployment_crd(with_defaults=True)),
        _Kind(policy.POLICY_KIND, crdgen.cluster_rollout_policy_crd(with_defaults=True)),
    ]
    for kind in kinds:
        kind.root = kind.crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    model_deployment, rollout_policy = kinds
    index = _Index()
    # The spec of each kind first, so that what the status shares with a spec (a policy's
    # rules, a revision's serving) is described with the spec.
    order = ((model_deployment, "spec"), (rollout_policy, "spec"), (model_deployment, "status"))
    for kind, part in order:
        index.collect(kind, part, kind.root["properties"][part])
    lines = [_PREAMBLE]
    lines += [f"- [{kind.name}](#{kind.name.lower()})" for kind in kinds]
    for kind in kinds:
        lines += ["", *_kind_lines(kind, index)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/reference.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
