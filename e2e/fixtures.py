"""Fixtures shared by the integration tests and the end-to-end scenarios.

The cluster is the local one, or, where Docker exists, a kind cluster that `python -m e2e.kind
up` made ready (MODELDEPLOY_E2E_KIND names its state directory): both carry the same images,
model store and Prometheus and are reached from inside their network namespace, so both run
the very same scenarios.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import pytest
import requests
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from prometheus_client.parser import text_string_to_metric_families

from e2e.localcluster.netns import NetworkNamespace
from e2e.localcluster.prometheus import InClusterPrometheus
from e2e.model_store import ModelStore

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "modeldeploy.io", "v1alpha1", "modeldeployments"

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], timeout: float, message: str, interval: float = 0.5
) -> T:
    """Polls `probe` until it returns something truthy; fails with `message` on time-out."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s: {message} (last seen: {last!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """What a test needs of a cluster: its kubeconfig and API clients on it."""

    kubeconfig: Path
    api_client: client.ApiClient
    # Pods and Services are reached from inside this namespace.
    netns: NetworkNamespace
    model_store: ModelStore
    prometheus: InClusterPrometheus
    # Image references by key (operator, serving, ...), as the node knows them.
    images: dict[str, str]
    # The Gateway's address inside the namespace (Gateway `local` in `gateway-system`), where
    # the cluster runs one.
    gateway: tuple[str, int] | None = None

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            [kubectl_binary(), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def get_json(self, path: str) -> Any:
        """GET of a raw API path (query string included), parsed."""
        method, url, headers, body, _ = self.api_client.param_serialize(
            "GET", path, auth_settings=["BearerToken"]
        )
        response = self.api_client.call_api(method, url, header_params=headers, body=body)
        response.read()  # type: ignore[no-untyped-call]
        if response.status >= 400:
            raise AssertionError(f"GET {path}: {response.status} {response.data!r}")
        return json.loads(response.data or b"null")


def request_in_cluster(cluster: Cluster, method: str, url: str, **kwargs: Any) -> Any:
    """An HTTP request sent from inside the cluster's network namespace."""

    def send() -> requests.Response:
        session = requests.Session()
        session.trust_env = False
        with session:
            return session.request(method, url, **kwargs)

    return cluster.netns.call(send)


def built(script: str) -> Path:
    """What one of the cached build scripts in e2e/cluster/ built (the last line it prints);
    the first call on a machine builds it."""
    out = subprocess.run(
        ["bash", str(REPO / "e2e" / "cluster" / script)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Path(out.strip().splitlines()[-1])


def kubectl_binary() -> str:
    bin_dir = os.environ.get("MODELDEPLOY_K8S_BIN")
    if bin_dir:
        return str(Path(bin_dir) / "kubectl")
    return str(built("build-binaries.sh") / "kubectl")


class ClusterHarness(Protocol):
    """What the local cluster and the kind harness both offer."""

    @property
    def kubeconfig(self) -> Path: ...
    @property
    def bin_dir(self) -> Path: ...
    @property
    def netns(self) -> NetworkNamespace: ...
    @property
    def prometheus(self) -> InClusterPrometheus: ...
    @property
    def model_store_url(self) -> str: ...
    @property
    def images(self) -> dict[str, str]: ...


KIND_STATE_ENV = "MODELDEPLOY_E2E_KIND"


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    kind_state = os.environ.get(KIND_STATE_ENV)
    if kind_state:
        from e2e.kind.cluster import KindCluster

        return cluster_on(KindCluster.attach(Path(kind_state)))
    return cluster_on(request.getfixturevalue("local_cluster"))


def cluster_on(harness: ClusterHarness) -> Cluster:
    """The handle on a harness's cluster; its kubectl is the one `Cluster.kubectl` runs."""
    os.environ["MODELDEPLOY_K8S_BIN"] = str(harness.bin_dir)
    kubeconfig = Path(harness.kubeconfig)
    return Cluster(
        kubeconfig=kubeconfig,
        api_client=api_client_for(kubeconfig),
        netns=harness.netns,
        model_store=ModelStore(harness.model_store_url),
        prometheus=harness.prometheus,
        images=harness.images,
        gateway=getattr(harness, "gateway_cluster_address", None),
    )


def api_client_for(kubeconfig: Path) -> client.ApiClient:
    made: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return made


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    install_crds(cluster)


def install_crds(cluster: Cluster) -> None:
    """The project's CRDs, applied and Established."""
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    for path in sorted((REPO / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")


Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Metrics:
    """Prometheus' text format as (sample name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def reconciled_in(samples: Metrics) -> set[tuple[str, str]]:
    """The objects an operator's metrics say it has reconciled at least once."""
    return {
        (labels["namespace"], labels["name"])
        for (name, items), value in samples.items()
        if name == "modeldeploy_reconciles_total" and value > 0
        for labels in [dict(items)]
        if labels.get("outcome") == "ok"
    }


def reconciles_of(operator: Any, namespace: str, name: str) -> float:
    """Reconciles of one object the leading replica made (0 while none leads)."""
    try:
        samples: Metrics = operator.metrics()
    except (requests.RequestException, OSError):
        return 0.0
    return sum(
        value
        for (metric, items), value in samples.items()
        if metric == "modeldeploy_reconciles_total"
        and dict(items).get("namespace") == namespace
        and dict(items).get("name") == name
    )


def requests_in(samples: Metrics) -> dict[str, float]:
    """API requests an operator made outside its watches, by "verb resource"."""
    return {
        f"{labels['verb']} {labels['resource']}": value
        for (name, items), value in samples.items()
        if name == "modeldeploy_kube_requests_total"
        for labels in [dict(items)]
    }


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int

    def metrics(self) -> Metrics:
        """The operator's own metrics: (sample name, sorted labels) -> value."""
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return parse_metrics(text)

    def reconciled(self) -> set[tuple[str, str]]:
        """The objects this process has reconciled at least once (none while it starts)."""
        try:
            return reconciled_in(self.metrics())
        except requests.ConnectionError:
            return set()

    def requests_made(self) -> dict[str, float]:
        """API requests this process made outside its watches, by "verb resource"."""
        return requests_in(self.metrics())

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def adopt(self, other: OperatorProcess) -> None:
        """Becomes `other`: its process and metrics stand for this handle from now on."""
        self.stop()
        self.process, self.metrics_port = other.process, other.metrics_port

    def restart(self, kubeconfig: Path, prometheus_url: str | None) -> None:
        self.stop()
        started = start_operator(kubeconfig, self.log_path, prometheus_url)
        self.process, self.metrics_port = started.process, started.metrics_port

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


LEASE_NAMESPACE = "default"


def start_operator(
    kubeconfig: Path,
    log_path: Path,
    prometheus_url: str | None = None,
    leader_elect: bool = True,
) -> OperatorProcess:
    """The operator as its own process, as a replica of a real install: with leader election
    on a Lease in the default namespace, so that a second one started beside it stands by."""
    port = free_port()
    leader_args = (
        ["--leader-elect", f"--leader-election-namespace={LEASE_NAMESPACE}"] if leader_elect else []
    )
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        # The local Prometheus scrapes every 2 s, so a few seconds of window hold enough samples.
        "MODELDEPLOY_MIN_CHECK_WINDOW": "6s",
        # The scenarios' webhook receivers listen at the node's (private) address.
        "MODELDEPLOY_ALLOW_PRIVATE_NOTIFICATION_TARGETS": "true",
    }
    if prometheus_url:
        env["MODELDEPLOY_PROMETHEUS_URL"] = prometheus_url
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modeldeploy",
            "--metrics-port",
            str(port),
            "--liveness-port",
            "0",
            *leader_args,
        ],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    return OperatorProcess(process=process, log_path=log_path, metrics_port=port)


# The chart's values of the shared install, beyond the local cluster's own.
OPERATOR_VALUES = (
    # A status field the operator's models lack fails the scenarios, not only the unit tests.
    "extraEnv[0].name=MODELDEPLOY_STRICT_STATUS",
    "extraEnv[0].value=true",
)


@pytest.fixture(scope="session")
def operator(cluster: Cluster, crds: None) -> Iterator[Any]:
    """The operator as users run it: installed by its Helm chart into the cluster."""
    from e2e.in_cluster import InClusterOperator

    # Pytest processes sharing the cluster install one after another; the same values again
    # change nothing that runs.
    with (cluster.kubeconfig.parent / "operator-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = InClusterOperator.install(cluster, *OPERATOR_VALUES)
    _OPERATORS.append(installed)
    yield installed


_OPERATORS: list[Any] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and _OPERATORS:
        report.sections.append(("operator log", _OPERATORS[-1].log_tail()))


def create_namespace(cluster: Cluster, prefix: str = "t") -> str:
    """A fresh namespace, ready for pods. The API server refuses any pod that breaks the
    restricted Pod Security Standard there, as hardened clusters do: every pod the operator
    makes must pass it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn")}
    cluster.core.create_namespace(
        cast(Any, {"metadata": {"name": name, "labels": labels}}), _preload_content=False
    )

    def default_service_account() -> bool:
        try:
            cluster.core.read_namespaced_service_account("default", name, _preload_content=False)
            return True
        except ApiException:
            return False

    wait_for(default_service_account, 30, f"default ServiceAccount in {name}")
    return name


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = create_namespace(cluster)
    yield name
    with contextlib.suppress(ApiException):
        cluster.core.delete_namespace(name, _preload_content=False)


def get_model_deployment(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    body = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return cast(dict[str, Any], body)


def apply_model_deployment(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> None:
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    cluster.kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump(manifest))
