"""Writes the Helm chart's README, charts/modeldeploy/README.md, from its values.yaml and its
values.schema.json (`make chart-readme`).

A row per value: its key, what the schema accepts, its default from values.yaml, and the
comment above it there (or, for a value values.yaml leaves out, the schema's description). An
object the schema closes (`additionalProperties: false`) gets a row of its own where
values.yaml says something of it, then a row per field; an open one (labels, resources, a
securityContext) is one row, its default shown whole.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.api import spec

JsonSchema = dict[str, Any]
KeyPath = tuple[str, ...]

README = "README.md"
VALUES = "values.yaml"
SCHEMA = "values.schema.json"

_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
# A comment after a value: `#` after whitespace, outside quotes (values.yaml quotes no `#`).
_INLINE_COMMENT = re.compile(r"\s#\s?(?P<text>.*)$")

_NAMED_PATTERNS = {
    spec.DURATION_PATTERN: "duration",
    r"^([0-9]+(h|m|s))+$": "duration in whole seconds",
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$": (
        "Prometheus duration"
    ),
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "DNS label",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$": "DNS subdomain",
    r"^https?://": "http(s) URL",
    r"^--": "flag",
    (
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
    ): "label name",
}


class ChartDocError(ValueError):
    """values.yaml and values.schema.json disagree, or a value is described nowhere."""


def value_comments(text: str) -> dict[KeyPath, str]:
    """The comment of each key of a values file by its path: the comment lines right above
    it, else the comment after its value on its own line."""
    comments: dict[KeyPath, str] = {}
    parents: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _KEY_LINE.match(line)
        if match is None:  # a list item or a continued value
            pending = []
            continue
        indent = len(match["indent"])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = (*(key for _, key in parents), match["key"])
        parents.append((indent, match["key"]))
        inline = _INLINE_COMMENT.search(match["rest"])
        comment = " ".join(pending) or (inline["text"].strip() if inline else "")
        if comment:
            comments[path] = comment
        pending = []
    return comments


def closed(node: JsonSchema) -> bool:
    """An object whose every key the schema names: its fields are values of their own."""
    return node.get("type") == "object" and node.get("additionalProperties") is False


def _bounds(node: JsonSchema) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f" ({low} to {high})"
    if low is not None:
        return f" (at least {low})"
    return f" (at most {high})" if high is not None else ""


def _form(node: JsonSchema) -> str:
    """What a string must look like, where the schema says."""
    pattern = node.get("pattern")
    if pattern is not None:
        return f" ({_NAMED_PATTERNS.get(pattern, f'matching `{pattern}`')})"
    named = [
        _NAMED_PATTERNS[choice["pattern"]]
        for choice in node.get("anyOf", [])
        if choice.get("pattern") in _NAMED_PATTERNS
    ]
    return f" (empty, or a {named[0]})" if len(named) == 1 else ""


def type_text(node: JsonSchema) -> str:
    if "enum" in node:
        return "one of " + ", ".join(f"`{choice}`" for choice in node["enum"])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        items = node.get("items") or {}
        if items.get("type") == "string" and "enum" not in items:
            return "list of strings" + _form(items).replace(" (", " (each a ", 1)
        return f"list of {items.get('type', 'any')}s"
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict) and values.get("type") == "string":
            return "map of strings"
        return "object"
    if kind == "integer":
        return "integer" + _bounds(node)
    if kind == "string":
        return "string" + _form(node)
    return str(kind)


def default_text(value: Any) -> str:
    if value is None:
        return ""
    if value == "" or (isinstance(value, str) and yaml.safe_load(value) != value):
        return f"`{json.dumps(value)}`"  # what YAML would read as another type, quoted
    shown = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    shown = shown.removesuffix("\n...").removesuffix("...").strip()
    return f"`{shown}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str

    def line(self) -> str:
        cells = (f"`{self.key}`", self.type, self.default, self.description)
        return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _ordered(node: JsonSchema, defaults: Any) -> list[str]:
    """The fields of a closed object in values.yaml's order, then those it leaves out."""
    names = list(node.get("properties", {}))
    given = [k for k in defaults if k in names] if isinstance(defaults, dict) else []
    return given + [k for k in names if k not in given]


def rows(
    node: JsonSchema, defaults: Any, comments: dict[KeyPath, str], path: KeyPath = ()
) -> Iterator[Row]:
    for name in _ordered(node, defaults):
        child = node["properties"][name]
        here = (*path, name)
        key = ".".join(here)
        default = defaults.get(name) if isinstance(defaults, dict) else None
        missing = isinstance(defaults, dict) and name not in defaults
        if missing and "description" not in child:
            raise ChartDocError(f"{key}: in {SCHEMA} only, without a description there")
        description = comments.get(here) or child.get("description", "")
        if closed(child):
            if description:
                yield Row(key, "object", "", description)
            yield from rows(child, default or {}, comments, here)
            continue
        if not description:
            raise ChartDocError(f"{key}: no comment in {VALUES}, no description in {SCHEMA}")
        yield Row(key, type_text(child), "" if missing else default_text(default), description)


def undescribed(node: JsonSchema, defaults: Any, path: KeyPath = ()) -> list[str]:
    """Keys of values.yaml, under the objects the schema closes, that the schema lacks."""
    if not isinstance(defaults, dict):
        return []
    found = []
    for name, value in defaults.items():
        key = ".".join((*path, name))
        child = node.get("properties", {}).get(name)
        if child is None:
            found.append(key)
        elif closed(child):
            found += undescribed(child, value, (*path, name))
    return found


_PREAMBLE = """\
# The modeldeploy Helm chart

<!-- Generated by `make chart-readme` from values.yaml and values.schema.json: edit those. -->

{description}.

It installs the ModelDeployment and ClusterRolloutPolicy CRDs (as templates, so that `helm
upgrade` updates them; kept on uninstall; see docs/upgrade.md), the operator's Deployment
(replicas that elect a leader on a Lease), its ServiceAccount and RBAC (cluster-wide, or a Role
in each of `watchNamespaces`), and the admission webhook with a certificate it makes once and
keeps across upgrades; on request, PodMonitors, the alerts as a PrometheusRule and a Grafana
dashboard.

```sh
helm install modeldeploy charts/modeldeploy -n modeldeploy-system --create-namespace \\
  --set image.repository=<registry>/modeldeploy/operator \\
  --set defaultServingImage=<registry>/modeldeploy/serving:{app_version} \\
  --set prometheus.url=http://prometheus.monitoring.svc:9090
```

`values.schema.json` describes every value: `helm install`, `upgrade`, `template` and `lint`
refuse a key it does not know (a typo) and a value of the wrong type or form. Labels,
annotations, `resources`, `affinity`, `tolerations` and both security contexts are taken as
Kubernetes takes them.

The operator runs as user 65532, non-root, on a read-only root filesystem, with no capabilities
and the runtime's default seccomp profile. Where the platform assigns the user itself, as
OpenShift's `restricted-v2` SCC does, leave the user and group out:

```yaml
podSecurityContext:
  runAsUser: null
  runAsGroup: null
```

## Values
"""


def render(chart: Path) -> str:
    """The chart's README, as it should be."""
    values_text = (chart / VALUES).read_text()
    defaults = yaml.safe_load(values_text) or {}
    schema = json.loads((chart / SCHEMA).read_text())
    metadata = yaml.safe_load((chart / "Chart.yaml").read_text())
    extra = undescribed(schema, defaults)
    if extra:
        raise ChartDocError(f"in {VALUES} but not in {SCHEMA}: {', '.join(extra)}")
    table = [
        "| Key | Type | Default | Description |",
        "| --- | --- | --- | --- |",
        *(row.line() for row in rows(schema, defaults, value_comments(values_text))),
    ]
    preamble = _PREAMBLE.format(
        description=metadata["description"], app_version=metadata["appVersion"]
    )
    return preamble + "\n" + "\n".join(table) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    chart = Path(args[0] if args else "charts/modeldeploy")
    out = chart / README
    out.write_text(render(chart))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
