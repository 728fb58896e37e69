"""Client traffic for tests, routed the way kube-proxy or a Gateway would route it.

The local cluster has no gateway, so the TrafficDriver plays one: it reads the backend weights
of an HTTPRoute, or the ready endpoints in a Service's EndpointSlices as kube-proxy does, and
sends each request straight to a pod address, so that every record names the pod that served
it. With a real node, pods live in the cluster's network namespace and the driver's sending
threads enter it.

    driver = TrafficDriver(api_client, "default", service="web", rate_per_s=20, duration_s=10)
    with driver:
        driver.wait()
    print(driver.summary())

It only ever sends to loopback addresses (127.0.0.0/8) or, inside the cluster's namespace, to
its pod range; it sends at most `max_requests` or for at most `duration_s`, and stops by itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.localcluster.netns import POD_CIDR, NetworkNamespace

Body = bytes | str | Mapping[str, Any] | Sequence[Any] | None
BodyFactory = Callable[[int], Body]

REFRESH_INTERVAL_S = 1.0
GATEWAY_GROUP = "gateway.networking.k8s.io"


@dataclass(frozen=True)
class RequestRecord:
    """One request: when, to which backend Service and pod, and what came back."""

    index: int
    started_at: float
    backend: str
    pod: str | None
    address: str | None
    status: int | None
    latency_s: float
    error: str | None = None
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    pod: str | None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class WeightedBackend:
    service: str
    port: int | str | None
    weight: int


# Pure helpers -----------------------------------------------------------------------------


def service_port_name(service: Mapping[str, Any], port: int | str | None) -> str:
    """The name EndpointSlices use for a Service port given by number, name or nothing."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        raise LookupError(f"service {service.get('metadata', {}).get('name')} has no ports")
    if port is None:
        return str(ports[0].get("name") or "")
    for candidate in ports:
        if port in (candidate.get("port"), candidate.get("name")):
            return str(candidate.get("name") or "")
    raise LookupError(f"service {service.get('metadata', {}).get('name')} has no port {port!r}")


def ready_endpoints(slices: Sequence[Mapping[str, Any]], port_name: str) -> list[Endpoint]:
    """Ready endpoints of the port, as kube-proxy picks them (an unset ready means ready)."""
    found: dict[tuple[str, int], Endpoint] = {}
    for item in slices:
        numbers = [
            int(p["port"])
            for p in item.get("ports") or []
            if (p.get("name") or "") == port_name and p.get("port") is not None
        ]
        if not numbers:
            continue
        for endpoint in item.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False:
                continue
            pod = (endpoint.get("targetRef") or {}).get("name")
            for ip in endpoint.get("addresses") or []:
                found[(ip, numbers[0])] = Endpoint(ip, numbers[0], pod)
    return sorted(found.values(), key=lambda e: (e.pod or "", e.ip))


def _path_matches(match: Mapping[str, Any], path: str) -> bool:
    rule = match.get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = rule.get("type", "PathPrefix"), str(rule.get("value", "/"))
    if kind == "Exact":
        return path == value
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        return path == prefix or path.startswith(prefix + "/") or not prefix
    return False


def route_backends(route: Mapping[str, Any], path: str) -> list[WeightedBackend]:
    """Backends of the first rule whose matches take this path (a rule without matches does)."""
    for rule in (route.get("spec") or {}).get("rules") or []:
        matches = rule.get("matches") or [{}]
        if not any(_path_matches(m, path.split("?", 1)[0]) for m in matches):
            continue
        backends = []
        for ref in rule.get("backendRefs") or []:
            if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", "core"):
                continue
            backends.append(
                WeightedBackend(
                    service=str(ref["name"]),
                    port=ref.get("port"),
                    weight=int(ref.get("weight", 1)),
                )
            )
        return backends
    return []


def pick_weighted(
    backends: Sequence[WeightedBackend], rng: random.Random
) -> WeightedBackend | None:
    total = sum(max(0, b.weight) for b in backends)
    if total <= 0:
        return None
    point = rng.uniform(0, total)
    for backend in backends:
        point -= max(0, backend.weight)
        if point < 0:
            return backend
    return [b for b in backends if b.weight > 0][-1]


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def is_pod_address(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR)
    except ValueError:
        return False


def encode_body(body: Body) -> tuple[bytes | None, dict[str, str]]:
    if body is None:
        return None, {}
    if isinstance(body, bytes):
        return body, {}
    if isinstance(body, str):
        return body.encode(), {}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


# The driver ---------------------------------------------------------------------------------


class TrafficDriver:
    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        service: str | None = None,
        http_route: str | None = None,
        rate_per_s: float = 10.0,
        duration_s: float | None = 30.0,
        max_requests: int | None = None,
        path: str = "/",
        method: str = "GET",
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        port: int | str | None = None,
        timeout_s: float = 5.0,
        concurrency: int = 8,
        seed: int | None = None,
        keep_body_chars: int = 2048,
        netns: NetworkNamespace | None = None,
    ) -> None:
        if (service is None) == (http_route is None):
            raise ValueError("give exactly one of service= or http_route=")
        if duration_s is None and max_requests is None:
            raise ValueError("traffic must be bounded: give duration_s, max_requests or both")
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.namespace = namespace
        self.service = service
        self.http_route = http_route
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.path = path if path.startswith("/") else "/" + path
        self.method = method.upper()
        self.body = body
        self.headers = dict(headers or {})
        self.port = port
        self.timeout_s = timeout_s
        self.keep_body_chars = keep_body_chars
        self._core: Any = client.CoreV1Api(api_client)
        self._discovery: Any = client.DiscoveryV1Api(api_client)
        self._custom: Any = client.CustomObjectsApi(api_client)
        self._rng = random.Random(seed)
        self._allowed = is_pod_address if netns is not None else is_loopback
        self._pool = (
            netns.executor(concurrency)
            if netns is not None
            else ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="traffic")
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._endpoints: dict[str, list[Endpoint]] = {}
        self._backends: list[WeightedBackend] = []
        self._round_robin: Counter[str] = Counter()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="traffic-driver", daemon=True)
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="traffic-endpoints", daemon=True
        )
        self.refresh_errors: list[str] = []

    # Lifecycle ----------------------------------------------------------------------------

    def start(self) -> TrafficDriver:
        self.refresh()
        self._refresher.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=True)

    def wait(self, timeout_s: float | None = None) -> list[RequestRecord]:
        """Blocks until the traffic has ended by itself (or timeout_s) and returns the records."""
        self._done.wait(timeout_s)
        if self._done.is_set():
            self._pool.shutdown(wait=True)
        return self.records()

    def __enter__(self) -> TrafficDriver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Results ------------------------------------------------------------------------------

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.index)

    def summary(self) -> dict[str, dict[str, int]]:
        """Requests per backend Service, by status code ('error' when there was none)."""
        out: dict[str, Counter[str]] = {}
        for record in self.records():
            key = str(record.status) if record.status is not None else "error"
            out.setdefault(record.backend, Counter())[key] += 1
        return {backend: dict(counts) for backend, counts in out.items()}

    # Targets ------------------------------------------------------------------------------

    def _read(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = call(*args, _preload_content=False, _request_timeout=(3, 5), **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def _service_endpoints(self, service: str, port: int | str | None) -> list[Endpoint]:
        ns = self.namespace
        svc = self._read(self._core.read_namespaced_service, service, ns)
        if svc is None:
            return []
        port_name = service_port_name(svc, port)
        slices = self._read(
            self._discovery.list_namespaced_endpoint_slice,
            ns,
            label_selector=f"kubernetes.io/service-name={service}",
        )
        return ready_endpoints((slices or {}).get("items") or [], port_name)

    def refresh(self) -> None:
        """Reads the route and endpoints again, as a proxy would on every change."""
        try:
            if self.service is not None:
                backends = [WeightedBackend(self.service, self.port, 1)]
            else:
                route = self._read(
                    self._custom.get_namespaced_custom_object,
                    GATEWAY_GROUP,
                    "v1",
                    self.namespace,
                    "httproutes",
                    self.http_route,
                )
                backends = route_backends(route or {}, self.path)
            endpoints = {b.service: self._service_endpoints(b.service, b.port) for b in backends}
        except Exception as exc:
            # Keep routing by what was last known, as kube-proxy does when the API is away.
            self.refresh_errors.append(f"{time.time():.3f} {exc}")
            return
        with self._lock:
            self._backends = backends
            self._endpoints = endpoints

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_INTERVAL_S) and not self._done.is_set():
            self.refresh()

    def _choose(self) -> tuple[str, Endpoint | None]:
        with self._lock:
            backend = pick_weighted(self._backends, self._rng)
            if backend is None:
                return (self.http_route or self.service or "", None)
            endpoints = self._endpoints.get(backend.service) or []
            if not endpoints:
                return backend.service, None
            turn = self._round_robin[backend.service]
            self._round_robin[backend.service] += 1
            return backend.service, endpoints[turn % len(endpoints)]

    # Sending ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        began = time.monotonic()
        index = 0
        try:
            while not self._stop.is_set():
                if self.max_requests is not None and index >= self.max_requests:
                    break
                due = began + index / self.rate_per_s
                if self.duration_s is not None and due - began >= self.duration_s:
                    break
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                with contextlib.suppress(RuntimeError):
                    self._pool.submit(self._send, index)
                index += 1
        finally:
            self._done.set()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            self._local.session = session
        return session

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _send(self, index: int) -> None:
        started_at = time.time()
        backend, endpoint = self._choose()
        if endpoint is None:
            self._record(
                RequestRecord(
                    index, started_at, backend, None, None, None, 0.0, "no ready endpoint"
                )
            )
            return
        if not self._allowed(endpoint.ip):
            error = f"refusing endpoint {endpoint.address} outside the cluster"
            self._record(
                RequestRecord(index, started_at, backend, endpoint.pod, None, None, 0.0, error)
            )
            return
        data, extra_headers = encode_body(self.body(index) if self.body else None)
        began = time.monotonic()
        try:
            response = self._session().request(
                self.method,
                f"http://{endpoint.address}{self.path}",
                data=data,
                headers={**extra_headers, **self.headers},
                timeout=self.timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._record(
                RequestRecord(
                    index,
                    started_at,
                    backend,
                    endpoint.pod,
                    endpoint.address,
                    None,
                    time.monotonic() - began,
                    f"{type(exc).__name__}: {exc}",
                )
            )
            return
        self._record(
            RequestRecord(
                index,
                started_at,
                backend,
                endpoint.pod,
                endpoint.address,
                response.status_code,
                time.monotonic() - began,
                None,
                response.text[: self.keep_body_chars],
            )
        )
