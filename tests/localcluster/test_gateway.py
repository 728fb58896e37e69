"""The cluster's Gateway API implementation (Traefik behind the Gateway `local`) passing real
traffic: an HTTPRoute from another namespace attached to it, its backendRefs' weights followed
request by request, from the host through the loopback forwarder and from inside the cluster's
network namespace at the gateway Service's ClusterIP."""

from __future__ import annotations

import http.client
from collections import Counter
from typing import Any

import pytest

from e2e.localcluster import LocalCluster
from e2e.localcluster.gateway import (
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_PORT,
    TRAEFIK_CONTROLLER,
    conditions_true,
)
from e2e.localcluster.rest import local_session
from tests.localcluster.cluster_helpers import Api, eventually

pytestmark = pytest.mark.cluster

GROUP = "gateway.networking.k8s.io"
PORT = 8080
BACKEND_HEADER = "x-backend"
# Answers every path with the backend's name, in a header and as the body, over keep-alive
# connections (the gateway pools them). Headers and body go out in two writes: without
# TCP_NODELAY the second waits for the gateway's delayed ACK, 40 ms a request.
BACKEND_SERVER = """
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        body = os.environ["BACKEND"].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", os.environ["BACKEND"])
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
REQUESTS = 1000
# Points a backend's share may stray from its weight.
TOLERANCE = 0.03


def backend(local: LocalCluster, name: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": local.images["serving"],
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", BACKEND_SERVER],
                            "env": [{"name": "BACKEND", "value": name}],
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def route_rules(prefix: str, weights: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
            "backendRefs": [
                {"name": name, "port": 80, "weight": weight} for name, weight in weights.items()
            ],
        }
    ]


def ready_endpoints(api: Api, ns: str, service: str) -> int:
    return sum(
        1
        for s in api.slices(ns, service)
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    )


def read_route(api: Api, ns: str, name: str) -> dict[str, Any]:
    route: dict[str, Any] = api.custom.get_namespaced_custom_object(
        GROUP, "v1", ns, "httproutes", name
    )
    return route


def attached(route: dict[str, Any]) -> bool:
    """The gateway's controller accepted this generation of the route on the Gateway `local`
    and resolved every backendRef."""
    generation = route["metadata"]["generation"]
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if (
            parent.get("controllerName") == TRAEFIK_CONTROLLER
            and ref.get("name") == GATEWAY_NAME
            and ref.get("namespace") == GATEWAY_NAMESPACE
        ):
            conditions = parent.get("conditions") or []
            return all(
                any(
                    c.get("type") == kind
                    and c.get("status") == "True"
                    and c.get("observedGeneration") == generation
                    for c in conditions
                )
                for kind in ("Accepted", "ResolvedRefs")
            )
    return False


def from_host(url: str, path: str, count: int) -> list[str | None]:
    """The backend that answered each of `count` GETs of `path`, over one keep-alive connection
    through the host's forwarder; None for an answer that is not a 200."""
    answered: list[str | None] = []
    with local_session() as session:
        for _ in range(count):
            response = session.get(f"{url}{path}", timeout=10)
            answered.append(response.headers.get(BACKEND_HEADER) if response.ok else None)
    return answered


def in_cluster(address: tuple[str, int], path: str, count: int) -> list[str | None]:
    """As from_host, from a thread inside the cluster's network namespace to the gateway
    Service's ClusterIP."""
    answered: list[str | None] = []
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        for _ in range(count):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
            answered.append(response.getheader(BACKEND_HEADER) if ok else None)
    finally:
        connection.close()
    return answered


def test_the_gateway_is_programmed_behind_its_service(
    local_cluster: LocalCluster, api: Api
) -> None:
    gateway = api.custom.get_namespaced_custom_object(
        GROUP, "v1", GATEWAY_NAMESPACE, "gateways", GATEWAY_NAME
    )
    assert conditions_true(gateway, "Accepted", "Programmed"), gateway.get("status")
    listener = gateway["spec"]["listeners"][0]
    assert listener["port"] == GATEWAY_PORT
    assert listener["allowedRoutes"]["namespaces"]["from"] == "All"
    service = api.json(
        api.core.read_namespaced_service("traefik", GATEWAY_NAMESPACE, _preload_content=False)
    )
    address = local_cluster.gateway_cluster_address
    assert (service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"]) == address
    assert local_cluster.gateway_url.startswith("http://127.0.0.1:")
    # No route for this path: Traefik itself answers.
    with local_session() as session:
        assert session.get(f"{local_cluster.gateway_url}/no-route", timeout=5).status_code == 404


def test_an_http_route_splits_traffic_by_its_weights(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    stable, canary = "web-stable", "web-canary"
    for name in (stable, canary):
        for manifest in backend(local_cluster, name):
            api.create(ns, manifest)
    eventually(
        lambda: all(ready_endpoints(api, ns, s) == 1 for s in (stable, canary)),
        90,
        "a ready endpoint behind each backend Service",
    )
    prefix = f"/{ns}"
    api.create(
        ns,
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "parentRefs": [{"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE}],
                "rules": route_rules(prefix, {stable: 80, canary: 20}),
            },
        },
    )
    eventually(
        lambda: attached(read_route(api, ns, "web")), 60, "the route Accepted, refs resolved"
    )
    # The controller writes the route's status as it builds the configuration; the router
    # takes it up a moment later.
    eventually(
        lambda: from_host(local_cluster.gateway_url, f"{prefix}/models", 1) != [None],
        30,
        "the gateway to route the path",
    )

    answered = from_host(local_cluster.gateway_url, f"{prefix}/models", REQUESTS)
    counts = Counter(answered)
    assert set(counts) == {stable, canary}, counts
    assert abs(counts[stable] / REQUESTS - 0.80) <= TOLERANCE, counts
    assert abs(counts[canary] / REQUESTS - 0.20) <= TOLERANCE, counts

    route = read_route(api, ns, "web")
    route["spec"]["rules"] = route_rules(prefix, {stable: 100, canary: 0})
    api.custom.replace_namespaced_custom_object(GROUP, "v1", ns, "httproutes", "web", route)
    eventually(lambda: attached(read_route(api, ns, "web")), 60, "the new weights Accepted")
    address = local_cluster.gateway_cluster_address
    # Under the old weights every fifth request or so went to the canary; twenty in a row
    # at the stable mean the router runs the new ones.
    eventually(
        lambda: local_cluster.netns.call(lambda: in_cluster(address, prefix, 20)) == [stable] * 20,
        30,
        "the gateway to run the new weights",
    )
    answered = local_cluster.netns.call(lambda: in_cluster(address, f"{prefix}/x", REQUESTS))
    assert Counter(answered) == {stable: REQUESTS}
