"""Building blocks of rollout scenarios, shared by the end-to-end tests, the demo and the
rollback benchmark, so that what one shows is what the others check."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from e2e.fixtures import (
    Cluster,
    apply_model_deployment,
    get_model_deployment,
    request_in_cluster,
    wait_for,
)
from e2e.localcluster.traffic import (
    REVISION_HEADER,
    BodyFactory,
    Connections,
    RequestRecord,
    TrafficDriver,
    netloc,
    service_address,
)
from e2e.model_store import ENDPOINT_ENV, stored
from e2e.models import TrainedModel, traffic_rows
from e2e.recorder import StatusRecorder

MODEL = "iris"
# A prime, so that every n-th request still runs through the whole order.
ROW_ORDER_LENGTH = 1009
INFER_PATH = f"/v2/models/{MODEL}/infer"
# The cluster's one Gateway, which takes HTTPRoutes from every namespace.
GATEWAY_NAME = "local"
GATEWAY_NAMESPACE = "gateway-system"

ModelTrainer = Callable[[Path, int], TrainedModel]
"""Trains a model into the file at the path, from the seed (`e2e.models.train_*`)."""


@dataclass
class RolloutOptions:
    steps: list[dict[str, Any]] = field(
        default_factory=lambda: [{"weight": 25}, {"weight": 50}, {"weight": 75}]
    )
    interval: str = "4s"
    failure_limit: int = 0
    inconclusive_limit: int = 3
    min_requests: int = 0
    progress_deadline: str = "90s"
    scale_down_delay: str = "5s"
    checks: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"name": "error-rate", "max": 0.05},
            # kube-proxy sends each request to either track at random, so over one interval
            # (a few dozen requests) the tracks answer different samples of the rows: the mean
            # labels of two models that agree on every row differ by more than half in a few
            # percent of intervals, by more than all of it next to never.
            {"name": "prediction-drift", "max": 1.0},
        ]
    )
    router: str = "replicas"
    env: dict[str, str] = field(default_factory=dict)
    smoke_test: dict[str, Any] | None = None
    schema_change: str = "Refuse"
    blue_green: dict[str, Any] | None = None
    shadow: dict[str, Any] | None = None
    """Options of the blueGreen strategy; the canary's steps when None."""


def model_deployment(
    name: str,
    model: TrainedModel,
    version: str,
    options: RolloutOptions,
    replicas: int = 4,
    sha256: str | None = None,
) -> dict[str, Any]:
    serving_env = dict(options.env)
    if model.uri.startswith("s3://"):
        serving_env.setdefault(ENDPOINT_ENV["name"], ENDPOINT_ENV["value"])
    traffic: dict[str, Any] = {"router": options.router}
    if options.router == "gateway-api":
        traffic["httpRoute"] = {"name": name}
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {
                "name": MODEL,
                "version": version,
                "uri": model.uri,
                "format": "sklearn",
                "sha256": sha256 or model.sha256,
            },
            "replicas": replicas,
            "serving": {
                "startupTimeout": "1m",
                "env": [{"name": k, "value": v} for k, v in sorted(serving_env.items())],
            },
            "rollout": {
                "steps": options.steps,
                "interval": options.interval,
                "failureLimit": options.failure_limit,
                "inconclusiveLimit": options.inconclusive_limit,
                "minRequests": options.min_requests,
                "progressDeadline": options.progress_deadline,
                "scaleDownDelay": options.scale_down_delay,
                "traffic": traffic,
                "checks": options.checks,
                "schemaChange": options.schema_change,
                **(
                    {"strategy": "blueGreen", "blueGreen": options.blue_green}
                    if options.blue_green is not None
                    else {}
                ),
                **({"smokeTest": options.smoke_test} if options.smoke_test else {}),
                **({"shadow": options.shadow} if options.shadow else {}),
            },
        },
    }


def smoke_test(model: TrainedModel) -> dict[str, Any]:
    """A smoke test of golden rows: the class centres and the labels a right model gives."""
    return {
        "requests": [
            {
                "name": "class-centres",
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [len(model.sample), len(model.sample[0])],
                        "datatype": "FP64",
                        "data": model.sample,
                    }
                ],
                "expect": {"labels": [str(label) for label in model.expected]},
            }
        ]
    }


def requests_served_by(records: list[RequestRecord], revision: str) -> int:
    """Client requests answered by a pod of `revision` (the revision its answer named)."""
    return sum(1 for r in records if r.backend == revision and r.status is not None)


def model_hostname(namespace: str, name: str) -> str:
    """The host name a model's HTTPRoute answers for: one per model, so that the routes of
    every namespace can share the cluster's one Gateway."""
    return f"{name}.{namespace}.models.test"


def http_route(name: str, namespace: str) -> dict[str, Any]:
    """The user's HTTPRoute, attached to the cluster's Gateway for the model's own host name:
    one rule to both tracks; the operator only sets the weights."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE}],
            "hostnames": [model_hostname(namespace, name)],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"name": f"{name}-stable", "port": 80, "weight": 100},
                        {"name": f"{name}-canary", "port": 80, "weight": 0},
                    ],
                }
            ],
        },
    }


def infer_bodies(
    rows: list[list[float]] | None = None, seed: int = 11
) -> Callable[[int], dict[str, Any]]:
    chosen = rows or traffic_rows()
    # Rows in a fixed random order, not by request index: a keep-alive client's sending threads
    # take every n-th request, so `index % len(rows)` would send each connection, and so each
    # pod it stays on, its own few rows, and the tracks' predictions would differ by that alone.
    order = random.Random(seed).choices(range(len(chosen)), k=ROW_ORDER_LENGTH)

    def body(index: int) -> dict[str, Any]:
        row = chosen[order[index % ROW_ORDER_LENGTH]]
        return {
            "inputs": [
                {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": [row]}
            ]
        }

    return body


def client_traffic(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    via_route: bool = False,
    service: str | None = None,
    connections: Connections = "fresh",
    rate_per_s: float = 25,
    duration_s: float = 300,
    body: BodyFactory | None = None,
) -> TrafficDriver:
    """Clients calling the model: at its Service's ClusterIP (or `service`'s, e.g. the
    preview), or through the cluster's Gateway with its HTTPRoute's host name (`via_route`);
    with `body`, the requests they make.

    By default each request opens a connection of its own, which kube-proxy places: with the
    `replicas` router every check interval then sees the canary get its share of pods. A few
    keep-alive clients (`connections="pooled"`) reach that share only over many connections,
    and at this rate a canary pod can go several intervals without a request (no data: an
    inconclusive check); `make bench-gateway` measures what they get. Scenarios about what
    clients see across pods coming and going use them."""
    target: dict[str, Any]
    if via_route:
        target = {"gateway": gateway_of(cluster), "host": model_hostname(namespace, name)}
    else:
        target = {"service": service or name, "port": "http"}
    return TrafficDriver(
        cluster.api_client,
        namespace,
        **target,
        connections=connections,
        rate_per_s=rate_per_s,
        duration_s=duration_s,
        path=INFER_PATH,
        method="POST",
        body=body or infer_bodies(),
        netns=cluster.netns,
    )


def gateway_of(cluster: Cluster) -> tuple[str, int]:
    if cluster.gateway is None:
        raise AssertionError("this cluster has no Gateway to send through")
    return cluster.gateway


def wait_routed(
    cluster: Cluster, namespace: str, name: str, revision: str, timeout: float = 60
) -> None:
    """Waits until the Gateway routes the model's host name to `revision`: a gateway applies
    a new route, or new endpoints, a moment after the API server has them."""
    host, port = gateway_of(cluster)
    url = f"http://{netloc(host, port)}{INFER_PATH}"
    body = infer_bodies()(0)

    def answered() -> bool:
        try:
            response = request_in_cluster(
                cluster,
                "POST",
                url,
                json=body,
                headers={"Host": model_hostname(namespace, name)},
                timeout=5,
            )
        except requests.RequestException:
            return False
        return bool(
            response.status_code == 200 and response.headers.get(REVISION_HEADER) == revision
        )

    wait_for(answered, timeout, f"the Gateway routing {name} to {revision}")


def status_of(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(get_model_deployment(cluster, namespace, name).get("status") or {})


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        body = get_model_deployment(cluster, namespace, name)
        status = body.get("status") or {}
        if (
            status.get("phase") == "Ready"
            and status.get("observedGeneration") == body["metadata"]["generation"]
        ):
            return status
        return None

    return wait_for(ready, timeout, f"{name} Ready")


def wait_outcome(
    cluster: Cluster, namespace: str, name: str, revision: str, timeout: float = 300
) -> dict[str, Any]:
    """Waits until `revision` is promoted or rolled back; returns the status then."""

    def settled() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, name)
        if (status.get("stable") or {}).get("revision") == revision:
            return status
        if (status.get("rolledBack") or {}).get("revision") == revision:
            return status
        return None

    return wait_for(settled, timeout, f"revision {revision} promoted or rolled back")


def wait_new_revision(
    cluster: Cluster, namespace: str, name: str, old: str, timeout: float = 60
) -> str:
    def moved() -> str | None:
        revision = status_of(cluster, namespace, name).get("revision")
        return str(revision) if revision and revision != old else None

    return wait_for(moved, timeout, "the operator saw the new revision")


def deploy_stable(
    cluster: Cluster,
    namespace: str,
    name: str,
    model: TrainedModel,
    options: RolloutOptions,
    replicas: int = 4,
) -> str:
    apply_model_deployment(
        cluster, namespace, model_deployment(name, model, "v1", options, replicas)
    )
    status = wait_ready(cluster, namespace, name)
    revision = str(status["stable"]["revision"])
    wait_service_answers(cluster, namespace, name, revision)
    return revision


def wait_service_answers(
    cluster: Cluster, namespace: str, service: str, revision: str, timeout: float = 60
) -> None:
    """Waits until the Service answers at its ClusterIP from `revision`: kube-proxy writes a
    Service's rules a moment after its endpoints change, and until then a connection to it is
    refused."""
    ip, port = service_address(
        cluster.get_json(f"/api/v1/namespaces/{namespace}/services/{service}"), "http"
    )
    url = f"http://{netloc(ip, port)}/v2/health/ready"

    def answered() -> bool:
        try:
            response = request_in_cluster(cluster, "GET", url, timeout=5)
        except requests.RequestException:
            return False
        return bool(
            response.status_code == 200 and response.headers.get(REVISION_HEADER) == revision
        )

    wait_for(answered, timeout, f"Service {service} answering at its ClusterIP from {revision}")


def pod_uids(cluster: Cluster, namespace: str, name: str, revision: str) -> set[str]:
    pods = cluster.get_json(
        f"/api/v1/namespaces/{namespace}/pods?labelSelector=modeldeploy.io/name={name},"
        f"modeldeploy.io/revision={revision}"
    )["items"]
    return {p["metadata"]["uid"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def events_with_reason(
    cluster: Cluster, namespace: str, name: str, reason: str
) -> list[dict[str, Any]]:
    items = cluster.get_json(
        f"/api/v1/namespaces/{namespace}/events?fieldSelector=involvedObject.name={name}"
    )["items"]
    return [e for e in items if e.get("reason") == reason]


def first_bad_sample_time(
    prometheus_url: str, namespace: str, revision: str, since: float
) -> float | None:
    """Time of the first scraped sample in which the canary had answered with a 5xx."""
    query = (
        f'modeldeploy_serving_requests_total{{namespace="{namespace}",revision="{revision}",'
        f'operation="infer",code=~"5.."}}[10m]'
    )
    response = requests.get(
        f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10
    ).json()
    times = [
        float(at)
        for series in response["data"]["result"]
        for at, value in series["values"]
        if float(value) > 0 and float(at) >= since
    ]
    return min(times) if times else None


def sleep_until_step_reached(
    cluster: Cluster, namespace: str, name: str, step: int, timeout: float = 120
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, name)
        state = status.get("rollout") or {}
        return status if state.get("step") == step and state.get("stepReadyAt") else None

    return wait_for(reached, timeout, f"step {step + 1} reached", interval=0.2)


def store_models(
    cluster: Cluster, name: str, trained: dict[str, TrainedModel]
) -> dict[str, TrainedModel]:
    """Puts each model into the cluster's model store, under `name`/`key`."""
    return {
        key: stored(cluster.model_store, model, f"{name}/{key}/model.joblib")
        for key, model in trained.items()
    }


def train_and_store(
    cluster: Cluster,
    name: str,
    base_dir: Path,
    trainers: dict[str, tuple[ModelTrainer, int]],
) -> dict[str, TrainedModel]:
    """Trains each model with its seed into `base_dir`/`key`.joblib and puts it into the
    cluster's model store under `name`/`key`."""
    trained = {
        key: trainer(base_dir / f"{key}.joblib", seed) for key, (trainer, seed) in trainers.items()
    }
    return store_models(cluster, name, trained)


@dataclass
class RolledOut:
    candidate: str
    outcome: dict[str, Any]
    records: list[RequestRecord]
    """What the clients of the model's Service got meanwhile."""
    recorder: StatusRecorder


def roll_out_under_traffic(
    cluster: Cluster,
    namespace: str,
    name: str,
    model: TrainedModel,
    options: RolloutOptions,
    stable: str,
    timeout: float = 240,
) -> RolledOut:
    """Applies `model` as v2 under client traffic and waits until it is promoted or rolled
    back, recording the status all along."""
    with (
        client_traffic(cluster, namespace, name) as traffic,
        StatusRecorder(cluster, namespace, name) as recorder,
    ):
        apply_model_deployment(cluster, namespace, model_deployment(name, model, "v2", options))
        candidate = wait_new_revision(cluster, namespace, name, stable)
        outcome = wait_outcome(cluster, namespace, name, candidate, timeout=timeout)
        recorder.wait_settled()
    return RolledOut(candidate, outcome, traffic.records(), recorder)
