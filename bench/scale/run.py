"""`make bench-scale`: one operator, a thousand models, several rollouts at once.

On the local cluster (a real node; the operator runs as a process of its own, so that its CPU
time and memory can be read and it can be stopped and started):
1. `BENCH_OBJECTS` (1000) ModelDeployments at `replicas: 0` across ten namespaces, each with its
   Deployment and three Services, reconciled to Ready.
2. Idle: over `BENCH_IDLE_WINDOW` seconds (a full resync period by default) the API server's own
   `apiserver_request_total` is read with the operator running, then over a second window with
   the operator stopped; the difference is what the operator causes. The operator's CPU time and
   resident memory come from /proc over the first window.
3. Restart: the operator starts again; the time until it has reconciled every object once, and
   the writes to ModelDeployments, Deployments, Services and Events meanwhile (by the API
   server's count, and by the operator's own).
4. Rollouts: `BENCH_ROLLOUTS` real serving pairs under client traffic, among the idle objects,
   all rolled out at once; half to a good model (promoted), half to one that answers 5xx to part
   of its requests (rolled back). For these: first 5xx sample to weight 0, and how late each
   check ran against its due time (from the operator's log).

Writes bench/results/scale.json and the table in bench/README.md. Exits non-zero, saying why,
when a target is missed or a phase does not complete.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.readme import replace_block  # noqa: E402
from e2e.fixtures import (  # noqa: E402
    Cluster,
    OperatorProcess,
    apply_model_deployment,
    cluster_on,
    install_crds,
    start_operator,
    wait_for,
)
from e2e.localcluster import LocalCluster  # noqa: E402
from e2e.model_store import stored  # noqa: E402
from e2e.models import TrainedModel, train_classifier, train_failing_on_negatives  # noqa: E402
from e2e.recorder import StatusRecorder  # noqa: E402
from e2e.rollouts import (  # noqa: E402
    RolloutOptions,
    client_traffic,
    first_bad_sample_time,
    model_deployment,
    status_of,
)

OBJECTS = int(os.environ.get("BENCH_OBJECTS", "1000"))
NAMESPACES = 10
ROLLOUTS = int(os.environ.get("BENCH_ROLLOUTS", "6"))
IDLE_WINDOW_S = float(os.environ.get("BENCH_IDLE_WINDOW", "300"))
BASELINE_WINDOW_S = float(os.environ.get("BENCH_BASELINE_WINDOW", "120"))
INTERVAL_S = 5
RESULTS = REPO / "bench" / "results" / "scale.json"
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"}
OUR_RESOURCES = {"modeldeployments", "deployments", "services", "events"}
TARGETS: dict[str, tuple[str, Callable[[dict[str, Any]], bool]]] = {
    "objects": (">= 1000", lambda r: r["objects"] >= 1000),
    "idle_api_requests_per_min": ("<= 100", lambda r: r["idle_api_requests_per_min"] <= 100),
    "idle_cpu_s_per_min": ("<= 3", lambda r: r["idle_cpu_s_per_min"] <= 3),
    "rss_mib": ("< 250", lambda r: r["rss_mib"] < 250),
    "restart_resync_s": ("< 60", lambda r: r["restart_resync_s"] < 60),
    "restart_writes": ("0", lambda r: r["restart_writes"] == 0),
    "rollouts": (">= 5", lambda r: r["rollouts"] >= 5),
    "rollback_max_s": ("<= interval_s + 5", lambda r: r["rollback_max_s"] <= r["interval_s"] + 5),
    "check_lag_p95_s": ("< 1", lambda r: r["check_lag_p95_s"] < 1),
}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- what the API server counts ---------------------------------------------------------------


def apiserver_requests(cluster: Cluster) -> dict[tuple[str, str], float]:
    """apiserver_request_total summed by (verb, resource)."""
    method, url, headers, body, _ = cluster.api_client.param_serialize(
        "GET", "/metrics", auth_settings=["BearerToken"]
    )
    response = cluster.api_client.call_api(method, url, header_params=headers, body=body)
    text = response.read().decode()  # type: ignore[no-untyped-call]
    totals: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name != "apiserver_request_total":
                continue
            key = (sample.labels.get("verb", ""), sample.labels.get("resource", ""))
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def delta(
    after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]
) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


def writes_to_ours(counts: dict[tuple[str, str], float]) -> int:
    return int(
        sum(v for (verb, res), v in counts.items() if verb in WRITE_VERBS and res in OUR_RESOURCES)
    )


# --- what the operator process costs --------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def operator_writes(operator: OperatorProcess) -> int:
    return int(
        sum(
            v
            for k, v in operator.requests_made().items()
            if k.split()[0] in {"apply", "patch", "create", "delete"}
        )
    )


# --- the idle fleet ----------------------------------------------------------------------------


def idle_manifests(model: TrainedModel) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "modeldeploy.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": f"model-{i:04d}", "namespace": f"idle-{i % NAMESPACES}"},
            "spec": {
                "model": {
                    "name": "iris",
                    "version": "v1",
                    "uri": model.uri,
                    "format": "sklearn",
                    "sha256": model.sha256,
                },
                "replicas": 0,
                "rollout": {"stepWeights": [10, 50], "interval": "1m"},
            },
        }
        for i in range(OBJECTS)
    ]


def list_model_deployments(cluster: Cluster) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = "limit=500" + (f"&continue={token}" if token else "")
        page = cluster.get_json(f"/apis/modeldeploy.io/v1alpha1/modeldeployments?{query}")
        items.extend(page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            return items


def count_ready(cluster: Cluster, namespaces: set[str]) -> int:
    return sum(
        1
        for item in list_model_deployments(cluster)
        if item["metadata"]["namespace"] in namespaces
        and (item.get("status") or {}).get("phase") == "Ready"
        and item["status"].get("observedGeneration") == item["metadata"]["generation"]
    )


def create_idle_fleet(cluster: Cluster, work: Path, model: TrainedModel) -> float:
    namespaces = {f"idle-{i}" for i in range(NAMESPACES)}
    for namespace in sorted(namespaces):
        cluster.kubectl("create", "namespace", namespace)
    manifests = idle_manifests(model)
    started = time.monotonic()
    for chunk in range(0, len(manifests), 250):
        path = work / f"idle-{chunk}.yaml"
        path.write_text(yaml.safe_dump_all(manifests[chunk : chunk + 250]))
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    log(f"applied {len(manifests)} ModelDeployments; waiting for all Ready")

    def all_ready() -> bool:
        ready = count_ready(cluster, namespaces)
        log(f"  {ready}/{OBJECTS} Ready")
        return ready >= OBJECTS

    wait_for(all_ready, 1200, f"{OBJECTS} idle ModelDeployments Ready", interval=10)

    def children_complete() -> bool:
        deployments = count_owned(cluster, "/apis/apps/v1/deployments")
        services = count_owned(cluster, "/api/v1/services")
        log(f"  {deployments} Deployments, {services} Services")
        return deployments >= OBJECTS and services >= 3 * OBJECTS

    wait_for(children_complete, 600, "every idle object's Deployment and Services", interval=10)
    return time.monotonic() - started


def count_owned(cluster: Cluster, path: str) -> int:
    total, token = 0, ""
    while True:
        query = "labelSelector=app.kubernetes.io/managed-by%3Dmodeldeploy&limit=500"
        page = cluster.get_json(f"{path}?{query}" + (f"&continue={token}" if token else ""))
        total += sum(1 for i in page["items"] if i["metadata"]["namespace"].startswith("idle-"))
        token = page["metadata"].get("continue", "")
        if not token:
            return total


def failed_reconciles(operator: OperatorProcess) -> int:
    return int(
        sum(
            value
            for (name, labels), value in operator.metrics().items()
            if name == "modeldeploy_reconciles_total" and ("outcome", "error") in labels
        )
    )


def wait_cluster_quiet(cluster: Cluster, timeout: float = 900) -> None:
    """Until the control plane has caught up with the new objects (ReplicaSets, EndpointSlices
    made by kube-controller-manager at its own pace): a window with the operator running must
    hold the operator's requests, not the tail of the fleet's creation."""
    deadline = time.monotonic() + timeout
    previous = apiserver_requests(cluster)
    while time.monotonic() < deadline:
        time.sleep(20)
        current = apiserver_requests(cluster)
        writes = {
            k: v
            for k, v in delta(current, previous).items()
            if k[0] in WRITE_VERBS and k[1] not in ("leases", "events")
        }
        previous = current
        if sum(writes.values()) < 5:
            return
        log(f"  the control plane is still writing: {writes}")
    raise SystemExit(f"the control plane never went quiet within {timeout:.0f}s")


def wait_quiet(operator: OperatorProcess, quiet_s: float = 20, timeout: float = 600) -> None:
    """Until the operator has written nothing for `quiet_s` seconds."""
    last = operator_writes(operator)
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        time.sleep(2)
        now_writes = operator_writes(operator)
        if now_writes != last:
            last, since = now_writes, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise SystemExit(f"the operator never went quiet: still writing after {timeout:.0f}s")


# --- the rollouts ------------------------------------------------------------------------------


@dataclass
class LiveRollout:
    name: str
    bad: bool
    stable: str = ""
    canary: str = ""
    started: float = 0.0
    outcome: dict[str, Any] | None = None


def run_rollouts(
    cluster: Cluster, local: LocalCluster, work: Path, operator_log: Path
) -> dict[str, Any]:
    namespace = "live"
    cluster.kubectl("create", "namespace", namespace)
    # The pause keeps a good candidate at its step for several checks, so that check timing is
    # measured over more than one check per rollout.
    options = RolloutOptions(
        steps=[{"weight": 50, "pause": "20s"}],
        interval=f"{INTERVAL_S}s",
        failure_limit=0,
        checks=[{"name": "error-rate", "max": 0.05}],
        scale_down_delay="5s",
    )
    good = [
        stored(cluster.model_store, train_classifier(work / f"good-{i}.joblib", seed=i), f"g{i}")
        for i in range(ROLLOUTS)
    ]
    rollouts = [LiveRollout(name=f"live-{i}", bad=i % 2 == 1) for i in range(ROLLOUTS)]
    for rollout, model in zip(rollouts, good, strict=True):
        apply_model_deployment(
            cluster, namespace, model_deployment(rollout.name, model, "v1", options, replicas=2)
        )

    def stable_ready() -> bool:
        statuses = [status_of(cluster, namespace, r.name) for r in rollouts]
        return all(s.get("phase") == "Ready" for s in statuses)

    wait_for(stable_ready, 300, "every live model Ready", interval=1)
    for rollout in rollouts:
        rollout.stable = status_of(cluster, namespace, rollout.name)["stable"]["revision"]
    log(f"{ROLLOUTS} live models Ready; starting client traffic and the rollouts")

    with ExitStack() as stack:
        drivers = [
            stack.enter_context(
                client_traffic(cluster, namespace, rollout.name, rate_per_s=10, duration_s=900)
            )
            for rollout in rollouts
        ]
        recorders = {
            r.name: stack.enter_context(StatusRecorder(cluster, namespace, r.name, period_s=0.2))
            for r in rollouts
        }
        wait_for(
            lambda: all(sum(r.ok for r in d.records()) >= 10 for d in drivers),
            60,
            "clients served by every stable track",
            interval=1,
        )
        started_wall = time.time()
        for i, rollout in enumerate(rollouts):
            candidate = stored(
                cluster.model_store,
                train_failing_on_negatives(work / f"bad-{i}.joblib", seed=100 + i)
                if rollout.bad
                else train_classifier(work / f"good-v2-{i}.joblib", seed=50 + i),
                f"candidate-{i}",
            )
            rollout.started = time.time()
            apply_model_deployment(
                cluster,
                namespace,
                model_deployment(rollout.name, candidate, "v2", options, replicas=2),
            )

        def settled() -> bool:
            for rollout in rollouts:
                if rollout.outcome is not None:
                    continue
                status = status_of(cluster, namespace, rollout.name)
                revision = status.get("revision")
                if not revision or revision == rollout.stable:
                    continue
                rollout.canary = revision
                if (status.get("stable") or {}).get("revision") == revision or (
                    status.get("rolledBack") or {}
                ).get("revision") == revision:
                    rollout.outcome = status
            return all(r.outcome is not None for r in rollouts)

        wait_for(settled, 600, "every rollout promoted or rolled back", interval=1)
        for rollout in rollouts:
            recorders[rollout.name].wait_settled(timeout_s=30)

    problems: list[str] = []
    rollback_times: list[float] = []
    for rollout in rollouts:
        outcome = rollout.outcome or {}
        if rollout.bad:
            if outcome.get("phase") != "RolledBack":
                problems.append(f"{rollout.name}: a 5xx candidate was not rolled back: {outcome}")
                continue
            assert local.prometheus_url
            first_bad = first_bad_sample_time(
                local.prometheus_url, namespace, rollout.canary, rollout.started
            )
            zero = recorders[rollout.name].first(lambda s: s.phase == "RolledBack")
            if first_bad is None or zero is None:
                problems.append(
                    f"{rollout.name}: no 5xx sample in Prometheus ({first_bad}) or no RolledBack "
                    f"sample recorded ({zero}); rolled back for: "
                    f"{(outcome.get('rolledBack') or {}).get('reason')}"
                )
                continue
            rollback_times.append(round(zero.at - first_bad, 3))
        elif (outcome.get("stable") or {}).get("revision") != rollout.canary:
            problems.append(
                f"{rollout.name}: a good candidate was not promoted: "
                f"{(outcome.get('rolledBack') or {}).get('reason')}"
            )

    lags = check_lags(operator_log, started_wall)
    return {
        "rollouts": ROLLOUTS,
        "promoted": sum(1 for r in rollouts if not r.bad),
        "rolled_back": sum(1 for r in rollouts if r.bad),
        "rollback_times_s": rollback_times,
        "rollback_max_s": max(rollback_times) if rollback_times else float("nan"),
        "checks_run": len(lags),
        "check_lag_p95_s": percentile(lags, 95) if lags else float("nan"),
        "check_lag_max_s": max(lags) if lags else float("nan"),
        "problems": problems,
    }


def check_lags(operator_log: Path, since_wall: float) -> list[float]:
    """Lateness of every check the operator ran after `since_wall`, from its JSON log."""
    lags: list[float] = []
    for line in operator_log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "lag_s" not in entry:
            continue
        at = datetime.fromisoformat(entry["time"].replace(",", ".")).replace(tzinfo=UTC)
        if at.timestamp() >= since_wall:
            lags.append(float(entry["lag_s"]))
    return lags


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- the report ----------------------------------------------------------------------------


def write_readme_table(result: dict[str, Any]) -> None:
    rows = [
        "| key | measured | target |",
        "| --- | ---: | --- |",
        *(f"| `{key}` | {result[key]} | {target} |" for key, (target, _) in TARGETS.items()),
        f"| `interval_s` | {result['interval_s']} | |",
    ]
    body = "\n".join(
        [
            f"Measured {result['measured_at']} on {result['machine']}.",
            "",
            *rows,
            "",
            f"Idle requests the operator caused, by verb and resource (window of "
            f"{result['idle_window_s']:.0f} s): `{json.dumps(result['idle_requests_by_kind'])}`.",
            f"Creating the {result['objects']} objects until all Ready took "
            f"{result['fleet_ready_s']:.0f} s.",
        ]
    )
    replace_block("scale-bench", body)


def main() -> int:
    # A benchmark stopped from outside still takes its cluster down on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="modeldeploy-bench-scale-"))
    log(f"work dir {work}")
    with LocalCluster(state_dir=work / "cluster") as local:
        cluster = cluster_on(local)
        install_crds(cluster)
        operator_log = work / "operator.log"
        operator = start_operator(cluster.kubeconfig, operator_log, local.prometheus_url)
        try:
            model = stored(
                cluster.model_store, train_classifier(work / "idle.joblib", seed=3), "idle"
            )
            fleet_ready_s = create_idle_fleet(cluster, work, model)
            log(f"fleet Ready in {fleet_ready_s:.0f}s; waiting for the operator to go quiet")
            wait_quiet(operator)
            log("waiting for the control plane to go quiet")
            wait_cluster_quiet(cluster)

            pid = operator.process.pid
            log(f"idle window with the operator running: {IDLE_WINDOW_S:.0f}s")
            failed_before = failed_reconciles(operator)
            before, cpu_before, t0 = apiserver_requests(cluster), cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_WINDOW_S)
            after, cpu_after, t1 = apiserver_requests(cluster), cpu_seconds(pid), time.monotonic()
            if failed_reconciles(operator) != failed_before:
                raise SystemExit("reconciles failed during the idle window; see the operator log")
            on_counts = delta(after, before)
            on_minutes = (t1 - t0) / 60
            rss, rss_peak = rss_mib(pid), rss_mib(pid, "VmHWM")

            operator.stop()
            log(f"baseline window with the operator stopped: {BASELINE_WINDOW_S:.0f}s")
            before_off, t2 = apiserver_requests(cluster), time.monotonic()
            time.sleep(BASELINE_WINDOW_S)
            after_off, t3 = apiserver_requests(cluster), time.monotonic()
            off_counts = delta(after_off, before_off)
            off_minutes = (t3 - t2) / 60
            on_rate = sum(on_counts.values()) / on_minutes
            off_rate = sum(off_counts.values()) / off_minutes
            by_kind = {
                f"{verb} {res or '-'}": round(
                    v / on_minutes - off_counts.get((verb, res), 0) / off_minutes, 1
                )
                for (verb, res), v in sorted(on_counts.items())
            }
            by_kind = {k: v for k, v in by_kind.items() if abs(v) >= 0.5}

            log("restarting the operator")
            writes_before = apiserver_requests(cluster)
            restarted = time.monotonic()
            operator = start_operator(cluster.kubeconfig, operator_log, local.prometheus_url)
            keys = {(f"idle-{i % NAMESPACES}", f"model-{i:04d}") for i in range(OBJECTS)}

            def all_reconciled() -> bool:
                return keys <= operator.reconciled()

            wait_for(all_reconciled, 600, "every object reconciled after the restart", 0.5)
            restart_resync_s = time.monotonic() - restarted
            wait_quiet(operator, quiet_s=10)
            restart_writes_api = writes_to_ours(delta(apiserver_requests(cluster), writes_before))
            restart_writes_own = operator_writes(operator)
            log(
                f"resync after restart: {restart_resync_s:.1f}s, writes {restart_writes_api} "
                f"(operator's own count {restart_writes_own})"
            )

            live = run_rollouts(cluster, local, work, operator_log)
        finally:
            operator.stop()

    result: dict[str, Any] = {
        "objects": OBJECTS,
        "idle_api_requests_per_min": round(on_rate - off_rate, 1),
        "idle_cpu_s_per_min": round((cpu_after - cpu_before) / on_minutes, 2),
        "rss_mib": round(rss, 1),
        "restart_resync_s": round(restart_resync_s, 1),
        "restart_writes": max(restart_writes_api, restart_writes_own),
        "rollouts": live["rollouts"],
        "interval_s": INTERVAL_S,
        "rollback_max_s": live["rollback_max_s"],
        "check_lag_p95_s": live["check_lag_p95_s"],
        "rss_peak_mib": round(rss_peak, 1),
        "idle_api_requests_per_min_with_operator": round(on_rate, 1),
        "idle_api_requests_per_min_without_operator": round(off_rate, 1),
        "idle_requests_by_kind": by_kind,
        "idle_window_s": round(t1 - t0, 1),
        "baseline_window_s": round(t3 - t2, 1),
        "restart_writes_apiserver": restart_writes_api,
        "restart_writes_operator": restart_writes_own,
        "fleet_ready_s": round(fleet_ready_s, 1),
        "promoted": live["promoted"],
        "rolled_back": live["rolled_back"],
        "rollback_times_s": live["rollback_times_s"],
        "checks_run": live["checks_run"],
        "check_lag_max_s": live["check_lag_max_s"],
        "resync_period": "5m",
        "leader_election": True,
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": (
            f"{os.cpu_count()} cores ({platform.machine()}), local cluster with a real node, "
            "operator as a host process"
        ),
    }
    missed = [
        f"{key} = {result[key]} (target {target})"
        for key, (target, check) in TARGETS.items()
        if not check(result)
    ]
    result["targets_missed"] = missed
    result["problems"] = live["problems"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme_table(result)
    print(json.dumps(result, indent=2))
    if live["problems"] or missed:
        for line in [*live["problems"], *missed]:
            print(f"FAILED: {line}", file=sys.stderr)
        return 1
    log(f"every target met; median rollback {statistics.median(live['rollback_times_s']):.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
