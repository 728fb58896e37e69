"""The local cluster behaves like a Kubernetes cluster with a kubelet, for real."""

from __future__ import annotations

import contextlib
import ipaddress
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes.client.exceptions import ApiException

from e2e.localcluster import LocalCluster
from e2e.localcluster.traffic import TrafficDriver
from tests.localcluster.cluster_helpers import (
    Api,
    condition,
    container_status,
    eventually,
    pids_with_arg,
)

pytestmark = pytest.mark.cluster

PORT = 8080
# A server on the pod's own address that also serves Prometheus metrics.
METRICS_SERVER = """
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"demo_requests_total 42\\n" if self.path == "/metrics" else b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body + b"")
        self.wfile.write(os.environ.get("TRACK", "").encode() if self.path == "/track" else b"")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["POD_IP"], int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def api(local_cluster: LocalCluster) -> Api:
    return Api(local_cluster.api_client())


@pytest.fixture
def ns(api: Api) -> Iterator[str]:
    name = f"lc-{uuid.uuid4().hex[:8]}"
    api.core.create_namespace({"metadata": {"name": name}}, _preload_content=False)

    def has_default_sa() -> bool:
        api.core.read_namespaced_service_account("default", name, _preload_content=False)
        return True

    eventually(has_default_sa, 30, "the default ServiceAccount")
    yield name
    with contextlib.suppress(ApiException):
        api.core.delete_namespace(name, _preload_content=False)


def pod_ip_env() -> list[dict[str, Any]]:
    return [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]


def web_deployment(
    name: str, replicas: int = 2, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "web",
                            "image": "python:3.11",
                            "command": ["python", "-m", "http.server", str(PORT)],
                            "args": ["--bind", "$(POD_IP)"],
                            "env": pod_ip_env(),
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": "http"},
                                "periodSeconds": 1,
                            },
                            # Accepted and ignored: nothing to enforce them with.
                            "resources": {"limits": {"memory": "128Mi"}},
                            "securityContext": {"runAsNonRoot": True},
                        }
                    ],
                },
            },
        },
    }


def service(name: str, app: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": app or name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def simple_pod(name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": command}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **spec.pop("metadata", {})},
        "spec": {"containers": [container], **spec},
    }


def test_cluster_is_up(local_cluster: LocalCluster, api: Api) -> None:
    node = api.json(api.core.read_node(local_cluster.node_name, _preload_content=False))
    assert condition(node, "Ready")["status"] == "True"
    assert node["status"]["capacity"]["cpu"] == "8"
    assert node["status"]["capacity"]["pods"] == "110"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    lease = api.json(
        api.coordination.read_namespaced_lease(
            local_cluster.node_name, "kube-node-lease", _preload_content=False
        )
    )
    assert lease["spec"]["holderIdentity"] == local_cluster.node_name
    crd = api.json(
        api.ext.read_custom_resource_definition(
            "httproutes.gateway.networking.k8s.io", _preload_content=False
        )
    )
    assert condition(crd, "Established")["status"] == "True"
    assert requests.get(f"{local_cluster.prometheus_url}/-/ready", timeout=5).status_code == 200
    assert local_cluster.kubeconfig.is_file()
    assert (local_cluster.bin_dir / "kubectl").is_file()


def test_deployment_gets_ready_endpoints_that_serve(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    api.create(ns, web_deployment("web"))
    api.create(ns, service("web"))

    def two_ready_pods() -> list[dict[str, Any]] | None:
        pods = api.pods(ns, "app=web")
        ready = [p for p in pods if condition(p, "Ready").get("status") == "True"]
        return pods if len(ready) == 2 else None

    pods = eventually(two_ready_pods, 60, "two Ready pods")
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2
    for pod in pods:
        ip = ipaddress.ip_address(pod["status"]["podIP"])
        assert ip.is_loopback and str(ip) != "127.0.0.1"
        assert pod["status"]["podIPs"] == [{"ip": str(ip)}]
        assert pod["status"]["phase"] == "Running"
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            assert condition(pod, kind)["status"] == "True", kind
            assert condition(pod, kind)["lastTransitionTime"]
        status = container_status(pod)
        assert status["ready"] and status["started"] and status["restartCount"] == 0
        assert status["containerID"] and status["imageID"] and status["image"] == "python:3.11"

    def ready_slice_addresses() -> set[str] | None:
        addresses = {
            address
            for item in api.slices(ns, "web")
            for endpoint in item.get("endpoints") or []
            if (endpoint.get("conditions") or {}).get("ready")
            for address in endpoint["addresses"]
        }
        return addresses if addresses == ips else None

    eventually(ready_slice_addresses, 30, "both pod IPs as ready EndpointSlice endpoints")
    some_ip = sorted(ips)[0]
    assert requests.get(f"http://{some_ip}:{PORT}/", timeout=5).status_code == 200

    driver = TrafficDriver(
        api.client, ns, service="web", rate_per_s=40, max_requests=40, duration_s=20
    )
    with driver:
        records = driver.wait(30)
    assert len(records) == 40
    assert all(r.status == 200 for r in records), driver.summary()
    assert {r.pod for r in records} == {p["metadata"]["name"] for p in pods}
    assert all(r.address and r.address.split(":")[0] in ips for r in records)


def test_crashing_container_restarts_with_back_off(api: Api, ns: str) -> None:
    api.create(ns, simple_pod("crash", ["python", "-c", "import sys; print('bye'); sys.exit(3)"]))
    seen_back_off = False

    def restarted_twice() -> dict[str, Any] | None:
        nonlocal seen_back_off
        status = container_status(api.pod(ns, "crash"))
        waiting = (status.get("state") or {}).get("waiting") or {}
        seen_back_off = seen_back_off or waiting.get("reason") == "CrashLoopBackOff"
        return status if status.get("restartCount", 0) >= 2 and seen_back_off else None

    status = eventually(restarted_twice, 40, "restartCount >= 2 and CrashLoopBackOff")
    terminated = status["lastState"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert api.pod(ns, "crash")["status"]["phase"] == "Running"
    reasons = {e["reason"] for e in api.events(ns, "crash")}
    assert {"Started", "BackOff"} <= reasons


def test_unmapped_image_stays_pending_with_the_reason(api: Api, ns: str) -> None:
    pod = simple_pod("nomap", ["serve"])
    pod["spec"]["containers"][0]["image"] = "registry.example/unknown/thing:1.0"
    api.create(ns, pod)

    def pull_error() -> dict[str, Any] | None:
        waiting = (container_status(api.pod(ns, "nomap")).get("state") or {}).get("waiting") or {}
        return waiting if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None

    waiting = eventually(pull_error, 30, "an image pull error")
    assert "registry.example/unknown/thing:1.0" in waiting["message"]
    assert "no local mapping" in waiting["message"]
    time.sleep(1)
    assert api.pod(ns, "nomap")["status"]["phase"] == "Pending"


def test_deleting_a_pod_stops_its_process(api: Api, ns: str) -> None:
    token = f"token-{uuid.uuid4().hex}"
    # Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    api.create(
        ns,
        simple_pod("stubborn", ["python", "-c", stubborn, token], terminationGracePeriodSeconds=2),
    )
    eventually(lambda: pids_with_arg(token), 30, "the pod's process")
    started = time.monotonic()
    api.core.delete_namespaced_pod("stubborn", ns, _preload_content=False)
    eventually(lambda: not api.pod_exists(ns, "stubborn"), 30, "the pod object to go")
    assert pids_with_arg(token) == []
    assert time.monotonic() - started >= 1.5


def test_liveness_failure_restarts_the_container(api: Api, ns: str) -> None:
    pod = simple_pod(
        "unlive",
        ["python", "-m", "http.server", str(PORT), "--bind", "$(POD_IP)"],
        terminationGracePeriodSeconds=1,
        container={
            "env": pod_ip_env(),
            "ports": [{"name": "http", "containerPort": PORT}],
            # Nothing listens on 9999: the probe fails, the container is killed and restarted.
            "livenessProbe": {
                "tcpSocket": {"port": 9999},
                "periodSeconds": 1,
                "failureThreshold": 2,
            },
        },
    )
    api.create(ns, pod)
    status = eventually(
        lambda: (s := container_status(api.pod(ns, "unlive"))).get("restartCount", 0) >= 1 and s,
        40,
        "a restart after liveness failures",
    )
    assert status["lastState"]["terminated"]["exitCode"] in (137, 143)
    messages = [e["message"] for e in api.events(ns, "unlive") if e["reason"] == "Unhealthy"]
    assert any("Liveness probe failed" in m for m in messages)


def test_env_sources_exec_probe_and_log_files(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    api.create(
        ns,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg"},
            "data": {"MODE": "fast"},
        },
    )
    api.create(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sec"},
            "stringData": {"token": "s3cret"},
        },
    )
    script = (
        "import os, time; "
        "print('mode', os.environ['MODE'], 'token', os.environ['TOKEN'], 'ns', os.environ['NS']); "
        "print('tmp', os.environ['TMPDIR']); "
        "time.sleep(2); open('ready', 'w').close(); time.sleep(600)"
    )
    pod = simple_pod(
        "envy",
        ["python", "-c", script],
        terminationGracePeriodSeconds=1,
        container={
            "env": [
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
            "readinessProbe": {
                "exec": {
                    "command": [
                        "python",
                        "-c",
                        "import os, sys; sys.exit(not os.path.exists('ready'))",
                    ]
                },
                "periodSeconds": 1,
            },
        },
    )
    api.create(ns, pod)
    ready = eventually(
        lambda: condition(p := api.pod(ns, "envy"), "Ready").get("status") == "True" and p,
        30,
        "readiness through the exec probe",
    )
    not_before = condition(ready, "PodReadyToStartContainers")["lastTransitionTime"]
    assert condition(ready, "Ready")["lastTransitionTime"] >= not_before
    (log_path,) = local_cluster.pods_dir.glob(f"{ns}_envy_*/main.log")
    text = log_path.read_text()
    assert f"mode fast token s3cret ns {ns}" in text
    assert f"tmp {log_path.parent / 'tmp'}" in text
    assert f"{ns}_envy_" in local_cluster.component_logs()


def test_prometheus_discovers_and_scrapes_annotated_pods(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    pod = simple_pod(
        "metrics",
        ["python", "-c", METRICS_SERVER, str(PORT)],
        metadata={
            "labels": {"app": "metrics", "track": "stable"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT)},
        },
        terminationGracePeriodSeconds=1,
        container={"env": pod_ip_env(), "ports": [{"name": "http", "containerPort": PORT}]},
    )
    api.create(ns, pod)
    query = f'up{{namespace="{ns}",pod="metrics"}}'

    def scraped() -> list[dict[str, Any]] | None:
        response = requests.get(
            f"{local_cluster.prometheus_url}/api/v1/query", params={"query": query}, timeout=5
        )
        result = response.json()["data"]["result"]
        return result if result and result[0]["value"][1] == "1" else None

    (series,) = eventually(scraped, 60, f"{query} == 1")
    assert series["metric"]["app"] == "metrics" and series["metric"]["track"] == "stable"
    value = requests.get(
        f"{local_cluster.prometheus_url}/api/v1/query",
        params={"query": f'demo_requests_total{{namespace="{ns}"}}'},
        timeout=5,
    ).json()["data"]["result"][0]["value"][1]
    assert value == "42"


def test_prometheus_stops_and_starts_on_its_own(local_cluster: LocalCluster) -> None:
    url = local_cluster.prometheus_url
    local_cluster.stop_prometheus()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/-/ready", timeout=2)
    local_cluster.start_prometheus()
    assert local_cluster.prometheus_url == url
    assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200


def test_traffic_follows_http_route_weights(api: Api, ns: str) -> None:
    for track in ("stable", "canary"):
        deployment = web_deployment(f"web-{track}", replicas=1)
        api.create(ns, deployment)
        api.create(ns, service(f"web-{track}"))
    api.create(
        ns,
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "backendRefs": [
                            {"name": "web-stable", "port": 80, "weight": 75},
                            {"name": "web-canary", "port": 80, "weight": 25},
                        ]
                    }
                ]
            },
        },
    )

    def both_ready() -> bool:
        return all(
            any(
                (e.get("conditions") or {}).get("ready")
                for s in api.slices(ns, f"web-{track}")
                for e in s.get("endpoints") or []
            )
            for track in ("stable", "canary")
        )

    eventually(both_ready, 60, "ready endpoints behind both routes")
    driver = TrafficDriver(
        api.client, ns, http_route="web", rate_per_s=100, max_requests=400, duration_s=30, seed=3
    )
    with driver:
        driver.wait(40)
    summary = driver.summary()
    assert set(summary) == {"web-stable", "web-canary"}
    assert all(set(counts) == {"200"} for counts in summary.values()), summary
    canary_share = summary["web-canary"]["200"] / 400
    assert 0.17 < canary_share < 0.33, summary


def test_init_containers_run_first_in_the_shared_working_dir(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    pod = simple_pod(
        "initialized",
        ["python", "-c", "print(open('prepared').read()); import time; time.sleep(600)"],
        terminationGracePeriodSeconds=1,
    )
    pod["spec"]["initContainers"] = [
        {
            "name": "prepare",
            "image": "python:3.11",
            "command": [
                "python",
                "-c",
                "import time; time.sleep(1); open('prepared', 'w').write('done')",
            ],
        }
    ]
    api.create(ns, pod)
    ready = eventually(
        lambda: condition(p := api.pod(ns, "initialized"), "Ready").get("status") == "True" and p,
        30,
        "the pod Ready after its init container",
    )
    assert condition(ready, "Initialized")["status"] == "True"
    (init,) = ready["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    (log_path,) = local_cluster.pods_dir.glob(f"{ns}_initialized_*/main.log")
    eventually(lambda: "done" in log_path.read_text(), 10, "the main container's output")


def test_pods_that_never_restart_end_succeeded_or_failed(api: Api, ns: str) -> None:
    for name, code in (("succeeds", 0), ("fails", 4)):
        api.create(
            ns,
            simple_pod(name, ["python", "-c", f"raise SystemExit({code})"], restartPolicy="Never"),
        )

    def phase(name: str) -> str:
        return str(api.pod(ns, name)["status"].get("phase"))

    eventually(lambda: phase("succeeds") == "Succeeded", 30, "Succeeded")
    eventually(lambda: phase("fails") == "Failed", 30, "Failed")
    failed = container_status(api.pod(ns, "fails"))
    assert failed["state"]["terminated"]["exitCode"] == 4
    assert failed["restartCount"] == 0
    assert condition(api.pod(ns, "fails"), "Ready")["reason"] == "PodCompleted"


def test_pre_stop_hook_runs_before_the_process_is_stopped(
    local_cluster: LocalCluster, api: Api, ns: str
) -> None:
    pod = simple_pod(
        "hooked",
        ["python", "-c", "import time; time.sleep(600)"],
        terminationGracePeriodSeconds=10,
        container={
            "lifecycle": {
                "preStop": {
                    "exec": {"command": ["python", "-c", "open('stopped', 'w').write('yes')"]}
                }
            }
        },
    )
    api.create(ns, pod)
    eventually(
        lambda: "running" in (container_status(api.pod(ns, "hooked")).get("state") or {}),
        30,
        "a running container",
    )
    api.core.delete_namespaced_pod("hooked", ns, _preload_content=False)
    eventually(lambda: not api.pod_exists(ns, "hooked"), 30, "the pod object to go")
    (marker,) = local_cluster.pods_dir.glob(f"{ns}_hooked_*/work/stopped")
    assert marker.read_text() == "yes"
