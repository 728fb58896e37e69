"""`make bench-rollback`: how fast a breaching canary loses its traffic.

On the local cluster, with real Prometheus scraping real serving pods under client traffic and
every core also kept busy by another process (`BENCH_LOAD`, default one per core), a canary
whose model answers 5xx to part of the traffic is rolled out again and again (failureLimit 0,
a short check interval), under two configurations side by side, each on a cluster of its own:
`fast` (the test settings) and `chart_defaults` (the chart's check window, a 30 s scrape, the
kubelet's default restart back-off). Each run measures the time from the first Prometheus
sample that holds a 5xx of the canary to the status showing weight 0, and the exposure: from
the first 5xx a client got from the canary to weight 0. Every run is reported with its
outcome, its cause and the phases and weights the recorder saw; none is retried, and the
benchmark fails, saying which run and why, when a run shows no rollback or no 5xx sample, or
takes longer than the bound. Writes bench/results/rollback.json.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from e2e.fixtures import (  # noqa: E402
    Cluster,
    apply_model_deployment,
    cluster_on,
    install_crds,
)
from e2e.in_cluster import InClusterOperator  # noqa: E402
from e2e.localcluster import LocalCluster  # noqa: E402
from e2e.localcluster.traffic import TrafficDriver  # noqa: E402
from e2e.model_store import stored  # noqa: E402
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
# Processes that keep a core busy during the runs: the bound must hold on a loaded machine.
LOAD_PROCESSES = int(os.environ.get("BENCH_LOAD", str(os.cpu_count() or 2)))
NAME = "bench"
NAMESPACE = "default"
RESULTS = REPO / "bench" / "results" / "rollback.json"
CHART_VALUES = REPO / "charts" / "modeldeploy" / "values.yaml"


@dataclass(frozen=True)
class Settings:
    """What the rollback's speed depends on besides the operator's own code."""

    name: str
    interval_s: int
    """The rollout's check interval: at least the scrape interval, or a new canary's series
    hold too few samples for a rate when its first checks run, and they are inconclusive."""
    scrape_interval: str
    min_check_window: str
    max_restart_period: str | None
    """None: the kubelet's default back-off (10 s, doubling to 5 min)."""
    described: str


def chart_min_check_window() -> str:
    return str(yaml.safe_load(CHART_VALUES.read_text())["minCheckWindow"])


CONFIGURATIONS = (
    Settings(
        name="fast",
        interval_s=5,
        scrape_interval="2s",
        min_check_window="6s",
        max_restart_period="2s",
        described="the local cluster's test settings: Prometheus scrapes every 2 s, the "
        "operator's shortest check window is 6 s, a dead container restarts within 2 s",
    ),
    Settings(
        name="chart_defaults",
        interval_s=30,
        scrape_interval="30s",
        min_check_window=chart_min_check_window(),
        max_restart_period=None,
        described="as a platform team gets it: the chart's minCheckWindow, a 30 s scrape as "
        "kube-prometheus-stack ships, the kubelet's default restart back-off, and a 30 s check "
        "interval (one shorter than the scrape has no new sample to judge)",
    ),
)


def main() -> int:
    configurations: dict[str, dict[str, Any]] = {}
    failed_runs: list[str] = []
    for settings in CONFIGURATIONS:
        result, failures = measure(settings)
        configurations[settings.name] = result
        failed_runs.extend(f"{settings.name} {failure}" for failure in failures)
    fast = configurations["fast"]
    result = {
        "date": datetime.date.today().isoformat(),
        # The top-level figures are the fast configuration's, as before.
        "interval_s": fast["interval_s"],
        "runs": fast["runs"],
        "median_s": fast["median_s"],
        "max_s": fast["max_s"],
        "bound_s": fast["bound_s"],
        "measured": "first Prometheus sample holding a canary 5xx -> status weight 0; "
        "exposure: first 5xx a client got from the canary -> status weight 0",
        "machine": f"{os.cpu_count()} cores, {LOAD_PROCESSES} of them kept busy by other "
        "processes throughout; local cluster with a real node, operator installed by its chart",
        "load_processes": LOAD_PROCESSES,
        "configurations": configurations,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(yaml.safe_dump(result, sort_keys=False))
    for failure in failed_runs:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed_runs else 0


def measure(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Five rollbacks on a cluster of its own under `settings`; the figures and what failed."""
    work = Path(tempfile.mkdtemp(prefix=f"modeldeploy-bench-rollback-{settings.name}-"))
    options = RolloutOptions(interval=f"{settings.interval_s}s", failure_limit=0)
    runs: list[RunRecord] = []
    with LocalCluster(
        state_dir=work / "cluster",
        scrape_interval=settings.scrape_interval,
        max_restart_period=settings.max_restart_period,
    ) as local:
        cluster = cluster_on(local)
        install_crds(cluster)
        # The operator as users run it: the chart, two replicas, one leading.
        InClusterOperator.install(cluster, f"minCheckWindow={settings.min_check_window}")
        good = stored(
            cluster.model_store, train_classifier(work / "good.joblib", seed=1), "bench/good"
        )
        stable = deploy_stable(cluster, NAMESPACE, NAME, good, options)
        # A new connection per request: what is measured is how soon the operator acts on a
        # breach, with every client request sampling the canary's share of pods afresh.
        with (
            client_traffic(
                cluster, NAMESPACE, NAME, connections="fresh", duration_s=3600
            ) as clients,
            cpu_load(LOAD_PROCESSES),
        ):
            for run in range(1, RUNS + 1):
                runs.append(one_run(cluster, local, clients, work, run, options, stable))
                print(f"{settings.name} run {run}: {runs[-1].summary}")
                # Back to the good model before the next run.
                apply_model_deployment(
                    cluster, NAMESPACE, model_deployment(NAME, good, "v1", options)
                )
                wait_ready(cluster, NAMESPACE, NAME)
    durations = [r.duration_s for r in runs if r.duration_s is not None]
    exposures = [r.exposure_s for r in runs if r.exposure_s is not None]
    bound = rollback_bound_s(settings)
    failures = [f"run {r.run}: {r.summary}" for r in runs if r.duration_s is None]
    failures += [
        f"run {r.run}: {r.duration_s}s over the bound of {bound}s"
        for r in runs
        if r.duration_s is not None and r.duration_s > bound
    ]
    result = {
        "settings": settings.described,
        "interval_s": settings.interval_s,
        "scrape_s": parse_seconds(settings.scrape_interval),
        "min_check_window": settings.min_check_window,
        "max_restart_period": settings.max_restart_period or "kubelet default",
        "runs": len(runs),
        "durations_s": durations,
        "median_s": round(statistics.median(durations), 3) if durations else None,
        "max_s": max(durations) if durations else None,
        "bound_s": bound,
        "bound_reason": "interval + 5 s"
        if bound == settings.interval_s + 5
        else "interval + two scrapes + 5 s: a new canary's series need two samples before "
        "rate() has a value",
        "exposure_median_s": round(statistics.median(exposures), 3) if exposures else None,
        "exposure_max_s": max(exposures) if exposures else None,
        "every_run": [asdict(r) for r in runs],
    }
    return result, failures


def rollback_bound_s(settings: Settings) -> float:
    """An interval and 5 s once the canary's series have a rate. With the fast settings they
    have one within 4 s; with a 30 s scrape a new canary's series need two scrapes before
    rate() has a value at all, and checks before then are inconclusive."""
    scrape_s = parse_seconds(settings.scrape_interval)
    warm_up_s = 2 * scrape_s if scrape_s > settings.interval_s / 2 else 0
    return settings.interval_s + warm_up_s + 5


def parse_seconds(duration: str) -> float:
    units = {"s": 1, "m": 60}
    return float(duration[:-1]) * units[duration[-1]]


@contextlib.contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """`processes` busy loops, each wanting a whole core, for as long as the block runs."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)
    ]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@dataclass
class RunRecord:
    run: int
    phase: str | None
    cause: str | None
    reason: str | None
    phases_seen: list[str | None]
    weights_seen: list[int]
    duration_s: float | None = None
    exposure_s: float | None = None
    summary: str = ""


def one_run(
    cluster: Cluster,
    local: LocalCluster,
    clients: TrafficDriver,
    work: Path,
    run: int,
    options: RolloutOptions,
    stable: str,
) -> RunRecord:
    """One rollout of a model that answers 5xx: what happened, and why, whatever the outcome.
    Nothing is retried: a run that shows no rollback, or no 5xx sample, is a finding."""
    bad = stored(
        cluster.model_store,
        train_failing_on_negatives(work / f"bad-{run}.joblib", seed=10 + run),
        f"bench/bad-{run}",
    )
    started = time.time()
    with StatusRecorder(cluster, NAMESPACE, NAME, period_s=0.1) as recorder:
        apply_model_deployment(
            cluster, NAMESPACE, model_deployment(NAME, bad, f"v2-run{run}", options)
        )
        canary = wait_new_revision(cluster, NAMESPACE, NAME, stable)
        outcome = wait_outcome(cluster, NAMESPACE, NAME, canary, timeout=300)
        # The recorder must itself have seen the end, or its last sample may be missing.
        recorder.wait_settled()
    rolled_back = outcome.get("rolledBack") or {}
    record = RunRecord(
        run=run,
        phase=outcome.get("phase"),
        cause=rolled_back.get("cause"),
        reason=rolled_back.get("reason"),
        phases_seen=recorder.phases(),
        weights_seen=recorder.weights(),
    )
    assert local.prometheus_url
    first_bad = first_bad_sample_time(local.prometheus_url, NAMESPACE, canary, started)
    zero = recorder.first(lambda s: s.phase == "RolledBack")
    first_failed = next(
        (
            r.started_at
            for r in clients.records()
            if r.started_at >= started and r.backend == canary and (r.status or 0) >= 500
        ),
        None,
    )
    if record.phase != "RolledBack":
        record.summary = f"not rolled back: phase {record.phase}"
    elif first_bad is None:
        record.summary = (
            f"rolled back ({record.reason}) with no 5xx sample in Prometheus since the run started"
        )
    elif zero is None:
        record.summary = "rolled back, but the recorder saw no RolledBack sample"
    else:
        record.duration_s = round(zero.at - first_bad, 3)
        if first_failed is not None:
            record.exposure_s = round(zero.at - first_failed, 3)
        record.summary = (
            f"{record.duration_s:.2f}s from first 5xx sample to weight 0, "
            f"{record.exposure_s}s from a client's first 5xx ({record.reason})"
        )
    return record


if __name__ == "__main__":
    raise SystemExit(main())
