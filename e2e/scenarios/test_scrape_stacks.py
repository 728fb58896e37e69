"""The built-in checks under the scrape stack most clusters run: prometheus-operator, scraping
the serving pods and the operator through the chart's PodMonitors, with the target labels it
sets; and the chart's Grafana dashboard on that stack, every panel showing the rollout."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from e2e.fixtures import REPO, Cluster, apply_model_deployment, built, wait_for
from e2e.localcluster import prometheus as prom
from e2e.model_store import stored
from e2e.models import train_classifier
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    model_deployment,
    wait_new_revision,
    wait_outcome,
)

pytestmark = pytest.mark.cluster

NAME = "scored"


DASHBOARD = REPO / "charts" / "modeldeploy" / "dashboards" / "modeldeploy.json"


def chart_podmonitor(template: str, enabled: str) -> dict[str, Any]:
    rendered = subprocess.run(
        [
            str(built("build-helm.sh")),
            "template",
            "modeldeploy",
            str(REPO / "charts" / "modeldeploy"),
            "--namespace=modeldeploy-system",
            f"--set={enabled}=true",
            f"--show-only=templates/{template}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    podmonitor: dict[str, Any] = yaml.safe_load(rendered)
    return podmonitor


def dashboard_panels(namespace: str, name: str) -> dict[str, list[str]]:
    """Each panel of the chart's dashboard: its title -> its queries, for one object."""
    variables = {"$namespace": namespace, "$name": name, "$__rate_interval": "1m"}
    panels = {}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        if panel["type"] == "row":
            continue
        queries = []
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in variables.items():
                expr = expr.replace(variable, value)
            queries.append(expr)
        panels[f"{panel['title']} ({panel['id']})"] = queries
    return panels


class DashboardWatch:
    """Asks Prometheus every panel's queries every few seconds while it is open, as a Grafana
    tab left open on the object would; a panel showed data once any of its queries returned a
    series. A query Prometheus refuses is kept with its error."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.cluster = cluster
        self.panels = dashboard_panels(namespace, name)
        self.shown: set[str] = set()
        self.refused: dict[str, str] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DashboardWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()
        self.look()

    def _run(self) -> None:
        while not self.stopped.wait(3):
            self.look()

    def look(self) -> None:
        for title, queries in self.panels.items():
            if title in self.shown:
                continue
            for query in queries:
                try:
                    found = series(self.cluster, query)
                except requests.RequestException:
                    continue  # no answer this time
                except QueryRefused as refused:
                    self.refused[title] = f"{query}: {refused}"
                    continue
                if found:
                    self.shown.add(title)

    def blank(self) -> list[str]:
        return sorted(set(self.panels) - self.shown)


class QueryRefused(Exception):
    pass


def series(cluster: Cluster, query: str) -> list[dict[str, str]]:
    assert cluster.prometheus_url
    response = requests.get(
        f"{cluster.prometheus_url}/api/v1/query", params={"query": query}, timeout=10
    )
    answer = response.json()
    if answer.get("status") != "success":
        raise QueryRefused(f"{answer.get('errorType')}: {answer.get('error')}")
    return [r["metric"] for r in answer["data"]["result"]]


def test_checks_see_their_data_under_prometheus_operator_relabelling(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    prometheus = cluster.prometheus
    podmonitor = chart_podmonitor("serving-podmonitor.yaml", "servingPodMonitor.enabled")
    operators = chart_podmonitor("podmonitor.yaml", "metrics.podMonitor.enabled")
    own = prom.in_cluster_config(prometheus.scrape_interval)
    as_operator_runs_it = {
        **own,
        "scrape_configs": [
            prom.podmonitor_scrape_config(monitor, prometheus.scrape_interval)
            for monitor in (podmonitor, operators)
        ],
    }
    v1 = stored(cluster.model_store, train_classifier(tmp_path / "v1.joblib", seed=1), "scored/v1")
    v2 = stored(cluster.model_store, train_classifier(tmp_path / "v2.joblib", seed=2), "scored/v2")
    options = RolloutOptions()
    prometheus.configure(as_operator_runs_it)
    try:
        stable = deploy_stable(cluster, namespace, NAME, v1, options)
        with (
            client_traffic(cluster, namespace, NAME),
            StatusRecorder(cluster, namespace, NAME) as recorder,
            DashboardWatch(cluster, namespace, NAME) as dashboard,
        ):
            apply_model_deployment(cluster, namespace, model_deployment(NAME, v2, "v2", options))
            canary = wait_new_revision(cluster, namespace, NAME, stable)
            outcome = wait_outcome(cluster, namespace, NAME, canary)
            recorder.wait_settled()
            # The rollout's end shows once Prometheus scraped the counters it moved.
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not dashboard.blank(), 60, "every panel showed data")
        scraped = series(cluster, f'modeldeploy_serving_requests_total{{namespace="{namespace}"}}')
    finally:
        prometheus.configure(own)

    # A step advances only on checks that pass: without data they would have been
    # inconclusive, held every step and rolled back.
    assert outcome["stable"]["revision"] == canary, outcome.get("rolledBack")
    assert recorder.steps() == [0, 1, 2], recorder.describe()
    assert len(events_with_reason(cluster, namespace, NAME, "StepAdvanced")) == 2
    # The series carry prometheus-operator's target labels, and none of the serving metrics'
    # own labels was displaced by one of them.
    job = f"{podmonitor['metadata']['namespace']}/{podmonitor['metadata']['name']}"
    assert scraped and all(s["job"] == job and s["endpoint"] == "http" for s in scraped), scraped
    assert not any(k.startswith("exported_") for s in scraped for k in s), scraped
    # The chart's dashboard, on the stack it is made for: every panel showed this rollout.
    assert not dashboard.refused, dashboard.refused
    assert not dashboard.blank(), f"panels that never showed data: {dashboard.blank()}"
