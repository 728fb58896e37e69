"""`make bench-rollback`: how fast a breaching canary loses its traffic.

On the local cluster, with real Prometheus scraping real serving pods under client traffic, a
canary whose model answers 5xx to part of the traffic is rolled out again and again
(failureLimit 0, a short check interval). Each run measures the time from the first Prometheus
sample that holds a 5xx of the canary to the status showing weight 0. Writes
bench/results/rollback.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from e2e.fixtures import (  # noqa: E402
    apply_model_deployment,
    cluster_on,
    install_crds,
    start_operator,
)
from e2e.localcluster import LocalCluster  # noqa: E402
from e2e.models import train_classifier, train_failing_on_negatives  # noqa: E402
from e2e.recorder import StatusRecorder  # noqa: E402
from e2e.rollouts import (  # noqa: E402
    RolloutOptions,
    client_traffic,
    deploy_stable,
    first_bad_sample_time,
    model_deployment,
    wait_new_revision,
    wait_outcome,
    wait_ready,
)

RUNS = 5
INTERVAL_S = 5
NAME = "bench"
NAMESPACE = "default"
RESULTS = REPO / "bench" / "results" / "rollback.json"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modeldeploy-bench-rollback-"))
    options = RolloutOptions(interval=f"{INTERVAL_S}s", failure_limit=0)
    durations: list[float] = []
    with LocalCluster(state_dir=work / "cluster") as local:
        cluster = cluster_on(local)
        install_crds(cluster)
        operator = start_operator(cluster.kubeconfig, work / "operator.log", local.prometheus_url)
        try:
            good = train_classifier(work / "good.joblib", seed=1)
            stable = deploy_stable(cluster, NAMESPACE, NAME, good, options)
            with client_traffic(cluster, NAMESPACE, NAME, duration_s=1800):
                for run in range(1, RUNS + 1):
                    bad = train_failing_on_negatives(work / f"bad-{run}.joblib", seed=10 + run)
                    started = time.time()
                    with StatusRecorder(cluster, NAMESPACE, NAME, period_s=0.1) as recorder:
                        apply_model_deployment(
                            cluster,
                            NAMESPACE,
                            model_deployment(NAME, bad, f"v2-run{run}", options),
                        )
                        canary = wait_new_revision(cluster, NAMESPACE, NAME, stable)
                        outcome = wait_outcome(cluster, NAMESPACE, NAME, canary, timeout=180)
                    if outcome.get("phase") != "RolledBack":
                        raise SystemExit(f"run {run}: expected a rollback, got {outcome}")
                    assert local.prometheus_url
                    first_bad = first_bad_sample_time(
                        local.prometheus_url, NAMESPACE, canary, started
                    )
                    zero = recorder.first(lambda s: s.phase == "RolledBack")
                    if first_bad is None or zero is None:
                        raise SystemExit(f"run {run}: no 5xx sample or no rollback seen")
                    durations.append(round(zero.at - first_bad, 3))
                    print(f"run {run}: {durations[-1]:.2f}s from first 5xx sample to weight 0")
                    # Back to the good model before the next run.
                    apply_model_deployment(
                        cluster, NAMESPACE, model_deployment(NAME, good, "v1", options)
                    )
                    wait_ready(cluster, NAMESPACE, NAME)
        finally:
            operator.stop()

    result = {
        "interval_s": INTERVAL_S,
        "runs": len(durations),
        "durations_s": durations,
        "median_s": round(statistics.median(durations), 3),
        "max_s": max(durations),
        "bound_s": INTERVAL_S + 5,
        "measured": "first Prometheus sample holding a canary 5xx -> status weight 0",
        "machine": "2 cores, local cluster (Prometheus scrape interval 2s)",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(yaml.safe_dump(result, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
