"""`make bench-gateway`: the share of requests a canary really gets, step by step, as clients
send them.

On the local cluster (a real node, kube-proxy in iptables mode, the operator installed by its
chart, the cluster's Gateway `local` in `gateway-system`), a ModelDeployment of `BENCH_REPLICAS`
replicas is rolled out to a second model in steps of 25, 50 and 75%, each `approval: required`:
the rollout holds at each step, is measured there, and `kubectl modeldeploy promote` moves it on.

1. The `replicas` router, clients at the Service's ClusterIP. At each step, once the Service's
   endpoints are settled (no pod still terminating), the canary's share of the answers is
   counted for two kinds of client, at least `BENCH_REQUESTS` requests each:
   - `pooled`: 8 keep-alive connections reused from request to request, as HTTP libraries do,
     opened before the rollout began and kept all along (kube-proxy places a connection once,
     when it opens);
   - `fresh`: a new connection for every request.
   Both are measured with the serving image's default keep-alive limit (the server ends a
   connection after `SERVING_MAX_REQUESTS_PER_CONNECTION` responses), then again with the limit
   off (`0`), in a namespace of their own.
2. The `gateway-api` router, clients through the Gateway with the model's host name: the
   operator sets the weights of the user's HTTPRoute, attached to Gateway `local`, and the
   Gateway splits each request by them. At each step `BENCH_REQUESTS` requests, on keep-alive
   connections; each step's canary share must be within 2 points of its weight.

Writes bench/results/gateway.json and the table in bench/README.md; exits non-zero, naming the
step, when a gateway step misses its weight or a part could not run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from bench.readme import replace_block  # noqa: E402
from e2e.fixtures import (  # noqa: E402
    Cluster,
    apply_model_deployment,
    cluster_on,
    create_namespace,
    install_crds,
    wait_for,
)
from e2e.in_cluster import InClusterOperator  # noqa: E402
from e2e.localcluster import LocalCluster  # noqa: E402
from e2e.localcluster.traffic import (  # noqa: E402
    Connections,
    RequestRecord,
    TrafficDriver,
    ready_endpoints,
)
from e2e.model_store import stored  # noqa: E402
from e2e.models import TrainedModel, train_classifier  # noqa: E402
from e2e.rollouts import (  # noqa: E402
    INFER_PATH,
    RolloutOptions,
    deploy_stable,
    gateway_of,
    http_route,
    infer_bodies,
    model_deployment,
    model_hostname,
    status_of,
    wait_new_revision,
    wait_outcome,
    wait_routed,
)
from modeldeploy.tools import cli  # noqa: E402
from modeldeploy_serving.config import DEFAULT_MAX_REQUESTS_PER_CONNECTION  # noqa: E402

NAME = "bench"
RESULTS = REPO / "bench" / "results" / "gateway.json"
WEIGHTS = (25, 50, 75)
REPLICAS = int(os.environ.get("BENCH_REPLICAS", "4"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
RATE_PER_S = float(os.environ.get("BENCH_RATE", "100"))
POOLED_CONNECTIONS = 8
GATEWAY_TOLERANCE = 0.02
ROUTES = "gateway.networking.k8s.io"


def main() -> int:
    if REQUESTS < 2000:
        print(f"BENCH_REQUESTS={REQUESTS}: the figures need at least 2000", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="modeldeploy-bench-gateway-"))
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%d"),
        "replicas": REPLICAS,
        "keepalive_limit": DEFAULT_MAX_REQUESTS_PER_CONNECTION,
        "requests_per_step_per_client": REQUESTS,
        "rate_per_s": RATE_PER_S,
        "clients": {
            "pooled": f"{POOLED_CONNECTIONS} keep-alive connections, opened before the rollout "
            "and reused from request to request (Python requests, one Session each)",
            "fresh": "a new TCP connection for every request",
        },
        "machine": f"{os.cpu_count()} cores; local cluster with a real node, kube-proxy in "
        "iptables mode, operator installed by its chart",
    }
    with LocalCluster(state_dir=work / "cluster") as local:
        cluster = cluster_on(local)
        install_crds(cluster)
        InClusterOperator.install(cluster)
        models = {
            key: stored(
                cluster.model_store,
                train_classifier(work / f"{key}.joblib", seed=seed),
                f"bench-gateway/{key}",
            )
            for key, seed in (("v1", 1), ("v2", 2))
        }
        for key, limit in (
            ("replicas_router", None),
            ("replicas_router_without_keepalive_limit", 0),
        ):
            try:
                result[key] = replicas_router(cluster, models, limit)
            except AssertionError as error:
                result[f"{key}_error"] = str(error)[:2000]
                print(f"{key}: {error}", file=sys.stderr)
        try:
            result["gateway"] = {"name": "local", "namespace": "gateway-system"}
            result["steps"] = gateway_router(cluster, models)
        except AssertionError as error:
            result["steps_error"] = str(error)[:2000]
            print(f"gateway: {error}", file=sys.stderr)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme_table(result)
    print(yaml.safe_dump(result, sort_keys=False))
    missed = missed_targets(result)
    for line in missed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if missed else 0


# The two parts ------------------------------------------------------------------------------


def options(router: str, limit: int | None) -> RolloutOptions:
    # No checks: a step is held for a person to promote, and measuring is all that happens.
    return RolloutOptions(
        steps=[{"weight": weight, "approval": "required"} for weight in WEIGHTS],
        checks=[],
        router=router,
        env={} if limit is None else {"SERVING_MAX_REQUESTS_PER_CONNECTION": str(limit)},
    )


def replicas_router(
    cluster: Cluster, models: dict[str, TrainedModel], limit: int | None
) -> list[dict[str, Any]]:
    """Per step: the share of the canary for pooled and for fresh clients at the ClusterIP."""
    namespace = create_namespace(cluster, "replicas")
    chosen = options("replicas", limit)
    stable = deploy_stable(cluster, namespace, NAME, models["v1"], chosen, replicas=REPLICAS)
    steps: list[dict[str, Any]] = []
    try:
        with driver(cluster, namespace, "pooled", None) as pooled:
            apply_model_deployment(
                cluster,
                namespace,
                model_deployment(NAME, models["v2"], "v2", chosen, replicas=REPLICAS),
            )
            canary = wait_new_revision(cluster, namespace, NAME, stable)
            for step, weight in enumerate(WEIGHTS):
                status = wait_held(cluster, namespace, step)
                pods = wait_endpoints_settled(cluster, namespace, canary, weight)
                began = time.time()
                with driver(cluster, namespace, "fresh", REQUESTS) as fresh:
                    fresh_records = fresh.wait(REQUESTS / RATE_PER_S * 3 + 60)
                pooled_records = wait_requests(pooled, began, REQUESTS)
                steps.append(
                    {
                        "weight": weight,
                        "replicas": pods,
                        "pooled_client_share": share_of(pooled_records, canary),
                        "fresh_connection_share": share_of(fresh_records, canary),
                        "effective_weight": status.get("effectiveWeight"),
                        "pooled_requests": len(pooled_records),
                        "fresh_requests": len(fresh_records),
                        "failed": sum(not r.ok for r in pooled_records + fresh_records),
                    }
                )
                print(f"replicas router, limit {limit}: {steps[-1]}", flush=True)
                promote(cluster, namespace)
            outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=180)
            assert (outcome.get("stable") or {}).get("revision") == canary, outcome
    finally:
        delete_namespace(cluster, namespace)
    return steps


def gateway_router(cluster: Cluster, models: dict[str, TrainedModel]) -> list[dict[str, Any]]:
    """Per step: the canary's share of requests sent through the Gateway."""
    gateway_of(cluster)
    namespace = create_namespace(cluster, "gateway")
    chosen = options("gateway-api", None)
    cluster.custom.create_namespaced_custom_object(
        ROUTES, "v1", namespace, "httproutes", http_route(NAME, namespace)
    )
    steps: list[dict[str, Any]] = []
    try:
        stable = deploy_stable(cluster, namespace, NAME, models["v1"], chosen, replicas=REPLICAS)
        wait_routed(cluster, namespace, NAME, stable)
        apply_model_deployment(
            cluster, namespace, model_deployment(NAME, models["v2"], "v2", chosen, REPLICAS)
        )
        canary = wait_new_revision(cluster, namespace, NAME, stable)
        for step, weight in enumerate(WEIGHTS):
            status = wait_held(cluster, namespace, step)
            wait_for(
                lambda weight=weight: route_weight(cluster, namespace) == weight,  # type: ignore[misc]
                60,
                f"the route's canary weight at {weight}",
            )
            wait_gateway_applied(cluster, namespace, canary, weight)
            with driver(cluster, namespace, "pooled", REQUESTS, via_gateway=True) as through:
                records = through.wait(REQUESTS / RATE_PER_S * 3 + 60)
            steps.append(
                {
                    "weight": weight,
                    "requests": len(records),
                    "canary_share": share_of(records, canary),
                    "route_weight": status.get("effectiveWeight"),
                    "failed": sum(not r.ok for r in records),
                }
            )
            print(f"gateway: {steps[-1]}", flush=True)
            promote(cluster, namespace)
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=180)
        assert (outcome.get("stable") or {}).get("revision") == canary, outcome
    finally:
        delete_namespace(cluster, namespace)
    return steps


# Clients ------------------------------------------------------------------------------------


@contextmanager
def driver(
    cluster: Cluster,
    namespace: str,
    connections: Connections,
    requests: int | None,
    via_gateway: bool = False,
) -> Iterator[TrafficDriver]:
    target: dict[str, Any] = (
        {"gateway": gateway_of(cluster), "host": model_hostname(namespace, NAME)}
        if via_gateway
        else {"service": NAME, "port": "http"}
    )
    traffic = TrafficDriver(
        cluster.api_client,
        namespace,
        **target,
        connections=connections,
        rate_per_s=RATE_PER_S,
        max_requests=requests,
        duration_s=None if requests else 3600,
        path=INFER_PATH,
        method="POST",
        body=infer_bodies(),
        concurrency=POOLED_CONNECTIONS,
        keep_body_chars=0,
        netns=cluster.netns,
    )
    with traffic:
        yield traffic


def wait_requests(traffic: TrafficDriver, since: float, count: int) -> list[RequestRecord]:
    """The first `count` requests the driver sent from `since` on, once it has sent them."""

    def enough() -> list[RequestRecord] | None:
        sent = [r for r in traffic.records() if r.started_at >= since]
        return sent[:count] if len(sent) >= count else None

    return wait_for(enough, count / RATE_PER_S * 3 + 60, f"{count} pooled requests")


def share_of(records: list[RequestRecord], revision: str) -> float | None:
    answered = [r for r in records if r.backend is not None]
    if not answered:
        return None
    return round(sum(r.backend == revision for r in answered) / len(answered), 4)


# Waiting on the rollout -----------------------------------------------------------------------


def wait_held(cluster: Cluster, namespace: str, step: int) -> dict[str, Any]:
    def held() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        at = (status.get("rollout") or {}).get("step")
        return status if status.get("phase") == "AwaitingApproval" and at == step else None

    return wait_for(held, 240, f"the rollout held at step {step + 1}")


def wait_endpoints_settled(
    cluster: Cluster, namespace: str, canary: str, weight: int
) -> dict[str, int]:
    """Waits until the client Service's endpoints are the step's pods, none of them still
    terminating (a terminating pod keeps the connections it has until it ends them)."""
    want_canary = REPLICAS * weight // 100
    prefix = f"{NAME}-{canary}-"

    def settled() -> dict[str, int] | None:
        slices = cluster.get_json(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name={NAME}"
        )["items"]
        terminating = any(
            (endpoint.get("conditions") or {}).get("terminating")
            for item in slices
            for endpoint in item.get("endpoints") or []
        )
        ready = ready_endpoints(slices, "http")
        canary_pods = sum(1 for e in ready if (e.pod or "").startswith(prefix))
        if terminating or len(ready) != REPLICAS or canary_pods != want_canary:
            return None
        return {"stable": len(ready) - canary_pods, "canary": canary_pods}

    return wait_for(settled, 180, f"{want_canary} of {REPLICAS} endpoints on the canary")


def route_weight(cluster: Cluster, namespace: str) -> int:
    route: Any = cluster.custom.get_namespaced_custom_object(
        ROUTES, "v1", namespace, "httproutes", NAME
    )
    refs = {r["name"]: r.get("weight", 1) for r in route["spec"]["rules"][0]["backendRefs"]}
    return int(refs.get(f"{NAME}-canary", 0))


def wait_gateway_applied(cluster: Cluster, namespace: str, canary: str, weight: int) -> None:
    """Waits until the Gateway splits by the route's new weights: it applies a changed route a
    moment after the API server has it."""

    def applied() -> bool:
        with driver(cluster, namespace, "pooled", 100, via_gateway=True) as probe:
            share = share_of(probe.wait(60), canary)
        return share is not None and abs(share - weight / 100) <= 0.05

    wait_for(applied, 120, f"the Gateway splitting {weight}% to the canary")


def promote(cluster: Cluster, namespace: str) -> None:
    assert (
        cli.main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "promote", NAME]) == 0
    )


def delete_namespace(cluster: Cluster, namespace: str) -> None:
    # One node: a part's pods go before the next part's come.
    cluster.core.delete_namespace(namespace, _preload_content=False)

    def gone() -> bool:
        names = {n["metadata"]["name"] for n in cluster.get_json("/api/v1/namespaces")["items"]}
        return namespace not in names

    wait_for(gone, 300, f"namespace {namespace} deleted")


# Results ------------------------------------------------------------------------------------


def missed_targets(result: dict[str, Any]) -> list[str]:
    missed = [f"{key}: {value}" for key, value in result.items() if key.endswith("_error")]
    for step in result.get("steps") or []:
        share = step["canary_share"]
        if share is None or abs(share - step["weight"] / 100) > GATEWAY_TOLERANCE:
            missed.append(
                f"through the Gateway at weight {step['weight']}: canary share {share}, "
                f"not within {GATEWAY_TOLERANCE * 100:g} points"
            )
    return missed


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def write_readme_table(result: dict[str, Any]) -> None:
    lines = [
        f"Measured {result['measured_at']} on {result['machine']}; {result['replicas']} "
        f"replicas, {result['requests_per_step_per_client']} requests per step and client at "
        f"{result['rate_per_s']:g} requests/s.",
        "",
        "`replicas` router, clients at the Service's ClusterIP:",
        "",
        "| weight | canary pods | effective weight | pooled, limit "
        f"{result['keepalive_limit']} | fresh, limit {result['keepalive_limit']} "
        "| pooled, no limit | fresh, no limit |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    limited = result.get("replicas_router") or []
    unlimited = result.get("replicas_router_without_keepalive_limit") or []
    for index, weight in enumerate(WEIGHTS):
        with_limit = limited[index] if index < len(limited) else {}
        without = unlimited[index] if index < len(unlimited) else {}
        pods = (with_limit or without).get("replicas") or {}
        effective = (with_limit or without).get("effective_weight")
        lines.append(
            f"| {weight}% | {pods.get('canary', '-')}/{result['replicas']} | "
            f"{'-' if effective is None else f'{effective}%'} | "
            f"{percent(with_limit.get('pooled_client_share'))} | "
            f"{percent(with_limit.get('fresh_connection_share'))} | "
            f"{percent(without.get('pooled_client_share'))} | "
            f"{percent(without.get('fresh_connection_share'))} |"
        )
    lines += [
        "",
        "`gateway-api` router, clients through Gateway `local`:",
        "",
        "| weight | requests | canary share | target |",
        "| ---: | ---: | ---: | --- |",
    ]
    for step in result.get("steps") or []:
        lines.append(
            f"| {step['weight']}% | {step['requests']} | {percent(step['canary_share'])} | "
            f"within {GATEWAY_TOLERANCE * 100:g} points |"
        )
    errors = [f"{key}: {value}" for key, value in result.items() if key.endswith("_error")]
    if errors:
        lines += ["", *(f"Not measured: {error}" for error in errors)]
    replace_block("gateway-bench", "\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
