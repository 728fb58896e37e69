"""The built-in checks under the scrape stack most clusters run: prometheus-operator, scraping
the serving pods through the chart's PodMonitor, with the target labels it sets."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from e2e.fixtures import REPO, Cluster, apply_model_deployment, built
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


def chart_serving_podmonitor() -> dict[str, Any]:
    rendered = subprocess.run(
        [
            str(built("build-helm.sh")),
            "template",
            "modeldeploy",
            str(REPO / "charts" / "modeldeploy"),
            "--namespace=modeldeploy-system",
            "--set=servingPodMonitor.enabled=true",
            "--show-only=templates/serving-podmonitor.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    podmonitor: dict[str, Any] = yaml.safe_load(rendered)
    return podmonitor


def series(cluster: Cluster, query: str) -> list[dict[str, str]]:
    assert cluster.prometheus_url
    response = requests.get(
        f"{cluster.prometheus_url}/api/v1/query", params={"query": query}, timeout=10
    )
    return [r["metric"] for r in response.json()["data"]["result"]]


def test_checks_see_their_data_under_prometheus_operator_relabelling(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    prometheus = cluster.prometheus
    podmonitor = chart_serving_podmonitor()
    own = prom.in_cluster_config(prometheus.scrape_interval)
    as_operator_runs_it = {
        **own,
        "scrape_configs": [prom.podmonitor_scrape_config(podmonitor, prometheus.scrape_interval)],
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
        ):
            apply_model_deployment(cluster, namespace, model_deployment(NAME, v2, "v2", options))
            canary = wait_new_revision(cluster, namespace, NAME, stable)
            outcome = wait_outcome(cluster, namespace, NAME, canary)
            recorder.wait_settled()
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
