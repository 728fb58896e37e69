"""The chart's alerts (charts/modeldeploy/files/alerts.yaml) as Prometheus reads them: valid
rules, each firing on the series it is about (promtool test rules), over metrics that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

import modeldeploy.shell.metrics  # noqa: F401  (registers the operator's metrics)

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "modeldeploy" / "files" / "alerts.yaml"
TESTS = Path(__file__).parent / "alerts" / "alerts_test.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
# Series the alerts read that the operator does not export: the API server's own.
FROM_THE_API_SERVER = {"apiserver_admission_webhook_fail_open_count"}


def rules() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def operator_metric_names() -> set[str]:
    return {sample.name for family in REGISTRY.collect() for sample in family.samples} | {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in ("", "_total", "_bucket", "_count", "_sum", "_info")
    }


def test_every_alert_reads_metrics_that_exist() -> None:
    known = operator_metric_names() | FROM_THE_API_SERVER
    for rule in rules():
        promql_parser.parse(rule["expr"])
        used = set(re.findall(r"\b(?:modeldeploy|apiserver)_[a-z_]+\b", rule["expr"]))
        assert used, rule["alert"]
        assert used <= known, f"{rule['alert']} reads {sorted(used - known)}, which nothing exports"


def test_every_alert_says_what_happened_and_how_bad() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@needs_promtool
def test_promtool_accepts_the_rules_and_their_tests_pass() -> None:
    assert PROMTOOL is not None
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", TESTS.name],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
