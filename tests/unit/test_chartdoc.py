"""The chart's README is generated from values.yaml and values.schema.json, and says every value
both of them have."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE
from modeldeploy.tools import chartdoc

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modeldeploy"


def test_committed_chart_readme_matches_values_and_schema() -> None:
    committed = (CHART / "README.md").read_text()
    assert committed == chartdoc.render(CHART), (
        "charts/modeldeploy/README.md is stale: run make chart-readme"
    )


def _leaf_keys(values: object, schema: dict[str, object], path: str = "") -> set[str]:
    """Keys of values.yaml down to the objects the schema leaves open."""
    if not isinstance(values, dict) or not chartdoc.closed(schema):
        return {path}
    properties = schema["properties"]
    assert isinstance(properties, dict)
    keys: set[str] = set()
    for name, value in values.items():
        keys |= _leaf_keys(value, properties.get(name, {}), f"{path}.{name}".lstrip("."))
    return keys


def test_every_value_has_a_row() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    text = chartdoc.render(CHART)
    for key in _leaf_keys(values, schema):
        assert f"| `{key}` |" in text, key
    assert "| `logLevel` | one of `debug`, `info`, `warning`, `error` | `info` |" in text
    assert "| `leaderElection.leaseDuration` | string (duration in whole seconds) | `10s` |" in text
    assert DEFAULT_SERVING_IMAGE in text, "the operator's own default is named"


def test_a_key_the_schema_lacks_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "modeldeploy"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "\n# Something new.\nnewThing: 1\n")
    with pytest.raises(chartdoc.ChartDocError, match="newThing"):
        chartdoc.render(chart)


def test_a_value_described_nowhere_is_refused(tmp_path: Path) -> None:
    chart = tmp_path / "modeldeploy"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(
        values.read_text().replace("# The operator pods' PriorityClass; none when empty.\n", "")
    )
    with pytest.raises(chartdoc.ChartDocError, match="priorityClassName"):
        chartdoc.render(chart)


def test_comments_belong_to_the_key_below_or_beside_them() -> None:
    text = """\
# About a.
a:
  # About b,
  # over two lines.
  b: 1
  c: x  # About c.

  d: {}
# Unattached.

e: []
"""
    assert chartdoc.value_comments(text) == {
        ("a",): "About a.",
        ("a", "b"): "About b, over two lines.",
        ("a", "c"): "About c.",
    }
