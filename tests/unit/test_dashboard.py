"""The chart's Grafana dashboard: every panel's query is PromQL that Prometheus parses, over
series the operator or the serving image export, with the dashboard's own variables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
from prometheus_client import REGISTRY, CollectorRegistry

import modeldeploy.shell.metrics  # noqa: F401  (registers the operator's metrics)
from modeldeploy_serving.metrics import ServingMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "charts/modeldeploy/dashboards/modeldeploy.json"
VALUES = {"$namespace": "ml", "$name": "iris", "$__rate_interval": "1m"}


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def known_series() -> set[str]:
    serving = ServingMetrics("iris", "v1", "abc", "sklearn", (0.5,))
    names = exported(REGISTRY) | exported(serving.registry)
    # Histograms and counters are queried by their sample names.
    return names | {f"{n}{s}" for n in names for s in ("_total", "_bucket", "_count", "_sum")}


def expressions(panel: dict[str, Any]) -> list[str]:
    exprs = []
    for target in panel["targets"]:
        expr = target["expr"]
        for variable, value in VALUES.items():
            expr = expr.replace(variable, value)
        exprs.append(expr)
    return exprs


def test_every_query_parses_and_reads_exported_series() -> None:
    known = known_series()
    for panel in panels():
        assert panel["targets"], panel["title"]
        for expr in expressions(panel):
            promql_parser.parse(expr)
            used = set(re.findall(r"\bmodeldeploy_[a-z_]+\b", expr))
            assert used <= known, f"{panel['title']}: {sorted(used - known)} not exported"


def test_per_object_panels_select_the_chosen_object() -> None:
    for panel in panels():
        for target in panel["targets"]:
            expr = target["expr"]
            if "modeldeploy_serving_" in expr or "$name" in expr:
                assert 'namespace="$namespace"' in expr, panel["title"]


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        grid = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        assert grid["x"] + grid["w"] <= 24
        taken |= cells
