"""The local cluster with its real node, as the scenarios use it: Deployments of images built
here behind Services, Prometheus discovering pods by itself, traffic sent as a client's would
be (at a Service's ClusterIP, or through the cluster's Gateway), Prometheus stopped and started
on its own."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from e2e.localcluster import LocalCluster
from e2e.localcluster.traffic import TrafficDriver
from tests.localcluster.cluster_helpers import Api, eventually

pytestmark = pytest.mark.cluster

PORT = 8080
# A server that answers with its track and serves one Prometheus counter; it names its track
# and pod in the headers the serving image answers with.
WEB_SERVER = """
import http.server, os, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        metrics = self.path == "/metrics"
        body = b"demo_requests_total 42\\n" if metrics else os.environ["TRACK"].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("modeldeploy-revision", os.environ["TRACK"])
        self.send_header("modeldeploy-pod", socket.gethostname())
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""


def web_deployment(local: LocalCluster, name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                    },
                },
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": local.record.images["serving"],
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", WEB_SERVER],
                            "env": [{"name": "TRACK", "value": name}],
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


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def ready_endpoints(api: Api, ns: str, service_name: str) -> int:
    return sum(
        1
        for s in api.slices(ns, service_name)
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    )


def test_cluster_is_up(local_cluster: LocalCluster, api: Api) -> None:
    node = api.json(api.core.read_node(local_cluster.node_name, _preload_content=False))
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kubeletVersion"] == "v1.37.1"
    assert requests.get(f"{local_cluster.prometheus_url}/-/ready", timeout=5).status_code == 200
    store = f"{local_cluster.record.model_store_url}/moto-api/"
    assert requests.get(store, timeout=5).status_code == 200
    assert local_cluster.kubeconfig.is_file()
    assert (local_cluster.bin_dir / "kubectl").is_file()


def test_a_service_balances_over_ready_pods_and_prometheus_scrapes_them(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    api.create(ns, web_deployment(local_cluster, "web", replicas=2))
    api.create(ns, service("web"))
    eventually(lambda: ready_endpoints(api, ns, "web") == 2, 90, "two ready endpoints")

    # At the Service's ClusterIP, a new connection per request: kube-proxy picks the pod.
    def at_cluster_ip(max_requests: int) -> TrafficDriver:
        return TrafficDriver(
            api.client,
            ns,
            service="web",
            connections="fresh",
            rate_per_s=50,
            max_requests=max_requests,
            duration_s=30,
            netns=local_cluster.netns,
        )

    def answered() -> bool:
        with at_cluster_ip(5) as probe:
            return all(r.status == 200 for r in probe.wait(30))

    # kube-proxy writes a Service's rules a moment after its endpoints are ready.
    eventually(answered, 60, "the Service answering at its ClusterIP")
    driver = at_cluster_ip(100)
    with driver:
        records = driver.wait(40)
    assert len(records) == 100 and all(r.status == 200 for r in records), driver.summary()
    assert {r.backend for r in records} == {"web"}
    assert len({r.pod for r in records}) == 2
    assert all(r.address and r.address.startswith("10.0.") for r in records)

    query = f'demo_requests_total{{namespace="{ns}"}}'

    def scraped() -> int:
        result = requests.get(
            f"{local_cluster.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
        ).json()["data"]["result"]
        return len(result)

    eventually(lambda: scraped() == 2, 60, "both pods scraped through Kubernetes discovery")


def test_traffic_through_the_gateway_follows_http_route_weights(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    for track in ("web-stable", "web-canary"):
        api.create(ns, web_deployment(local_cluster, track))
        api.create(ns, service(track))
    hostname = f"web.{ns}.test"
    api.create(
        ns,
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "parentRefs": [{"name": "local", "namespace": "gateway-system"}],
                "hostnames": [hostname],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "web-stable", "port": 80, "weight": 75},
                            {"name": "web-canary", "port": 80, "weight": 25},
                        ]
                    }
                ],
            },
        },
    )
    eventually(
        lambda: all(ready_endpoints(api, ns, t) == 1 for t in ("web-stable", "web-canary")),
        90,
        "ready endpoints behind both routes",
    )

    def through_gateway(max_requests: int) -> TrafficDriver:
        return TrafficDriver(
            api.client,
            ns,
            gateway=local_cluster.gateway_cluster_address,
            http_route="web",
            rate_per_s=100,
            max_requests=max_requests,
            duration_s=30,
            netns=local_cluster.netns,
        )

    def both_routed() -> bool:
        with through_gateway(20) as probe:
            found = {r.backend for r in probe.wait(30) if r.status == 200}
        return found == {"web-stable", "web-canary"}

    # The gateway applies the route a moment after the API server has it.
    eventually(both_routed, 60, "the gateway routing to both tracks")
    driver = through_gateway(400)
    with driver:
        records = driver.wait(40)
    summary = driver.summary()
    assert set(summary) == {"web-stable", "web-canary"}
    assert all(set(counts) == {"200"} for counts in summary.values()), summary
    # Each answer's body is the track its headers name.
    assert all(r.body == r.backend for r in records)
    canary_share = summary["web-canary"]["200"] / 400
    assert 0.2 <= canary_share <= 0.3, summary


@pytest.mark.disruptive
def test_prometheus_stops_and_starts_on_its_own(local_cluster: LocalCluster) -> None:
    url = local_cluster.prometheus_url
    local_cluster.prometheus.stop()
    with pytest.raises(requests.RequestException):
        requests.get(f"{url}/-/ready", timeout=2).raise_for_status()
    local_cluster.prometheus.start()
    assert local_cluster.prometheus_url == url
    assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200
