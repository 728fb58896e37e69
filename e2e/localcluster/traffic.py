"""Client traffic for tests, sent the way users' clients send it.

The driver never picks a pod. It sends either

- to a Service's ClusterIP and port (`service=`): kube-proxy's rules in the cluster's network
  namespace choose the pod, once per connection; or
- to a Gateway (`gateway=(address, port)`), with the Host header of an HTTPRoute (`host=`, or
  read from the route named by `http_route=`): the gateway chooses the backend by the route's
  weights.

Its sending threads enter the cluster's network namespace, as a client pod's would be in it.
Two kinds of client: `connections="pooled"` keeps one keep-alive connection per sending thread
(`concurrency` of them, each taking the next request in turn), as HTTP libraries do, so each
stays on one pod until the server ends the connection; `connections="fresh"` opens a new
connection for every request. Each record names what served it from the serving image's
response headers: `backend` is the revision (`modeldeploy-revision`), `pod` the pod's name
(`modeldeploy-pod`); both are None when no answer came, or it named neither.

    driver = TrafficDriver(api_client, "default", service="web", rate_per_s=20, duration_s=10)
    with driver:
        driver.wait()
    print(driver.summary())

It only ever sends to loopback addresses (127.0.0.0/8, ::1) or, inside the cluster's
namespace, to its pod and Service ranges; it sends at most `max_requests` or for at most
`duration_s`, and stops by itself. `ready_endpoints` reads a Service's EndpointSlices for tests
that check what it selects; the driver does not send by them.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.localcluster.netns import POD_CIDR, SERVICE_CIDR, NetworkNamespace, enter

Body = bytes | str | Mapping[str, Any] | Sequence[Any] | None
BodyFactory = Callable[[int], Body]
Connections = Literal["pooled", "fresh"]

REVISION_HEADER = "modeldeploy-revision"
POD_HEADER = "modeldeploy-pod"
# A Service's ClusterIP does not move while it exists; reading it again now and then only
# catches one deleted and made again.
REFRESH_INTERVAL_S = 2.0
GATEWAY_GROUP = "gateway.networking.k8s.io"
CLUSTER_RANGES = (ipaddress.ip_network(POD_CIDR), ipaddress.ip_network(SERVICE_CIDR))


@dataclass(frozen=True)
class RequestRecord:
    """One request: when, where it was sent, what answered it and what came back."""

    index: int
    started_at: float
    backend: str | None
    """The revision that answered (its `modeldeploy-revision` header)."""
    pod: str | None
    """The pod that answered (its `modeldeploy-pod` header)."""
    address: str | None
    """Where the request went: the Service's ClusterIP:port, or the gateway's address."""
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


# Pure helpers -----------------------------------------------------------------------------


def service_port_name(service: Mapping[str, Any], port: int | str | None) -> str:
    """The name EndpointSlices use for a Service port given by number, name or nothing."""
    return str(_service_port(service, port).get("name") or "")


def _service_port(service: Mapping[str, Any], port: int | str | None) -> Mapping[str, Any]:
    ports = (service.get("spec") or {}).get("ports") or []
    name = (service.get("metadata") or {}).get("name")
    if not ports:
        raise LookupError(f"service {name} has no ports")
    if port is None:
        found: Mapping[str, Any] = ports[0]
        return found
    for candidate in ports:
        if port in (candidate.get("port"), candidate.get("name")):
            return dict(candidate)
    raise LookupError(f"service {name} has no port {port!r}")


def service_address(service: Mapping[str, Any], port: int | str | None) -> tuple[str, int]:
    """The ClusterIP and port number clients of the Service connect to."""
    name = (service.get("metadata") or {}).get("name")
    cluster_ip = str((service.get("spec") or {}).get("clusterIP") or "")
    if not cluster_ip or cluster_ip == "None":
        raise LookupError(f"service {name} has no cluster IP")
    return cluster_ip, int(_service_port(service, port)["port"])


def route_hostname(route: Mapping[str, Any]) -> str | None:
    """The first host name an HTTPRoute answers for; None when it answers for any."""
    hostnames = (route.get("spec") or {}).get("hostnames") or []
    return str(hostnames[0]) if hostnames else None


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


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def is_cluster_address(ip: str) -> bool:
    """An address of the cluster's pod or Service range, which exist only inside its
    network namespace."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in CLUSTER_RANGES)


def netloc(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def encode_body(body: Body) -> tuple[bytes | None, dict[str, str]]:
    if body is None:
        return None, {}
    if isinstance(body, bytes):
        return body, {}
    if isinstance(body, str):
        return body.encode(), {}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


def served_by(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(revision, pod) an answer names in its headers."""
    return headers.get(REVISION_HEADER) or None, headers.get(POD_HEADER) or None


def shares(records: Iterable[RequestRecord]) -> dict[str, float]:
    """Each revision's share of the answers that named one."""
    counts = Counter(r.backend for r in records if r.backend is not None)
    total = sum(counts.values())
    return {backend: count / total for backend, count in counts.items()} if total else {}


def describe_failures(records: Sequence[RequestRecord], limit: int = 8) -> str:
    """The failed requests in runs: when (seconds after the first request), where they went,
    what answered and why they failed; for the message of a failed assertion."""
    if not records:
        return "no requests"
    began = min(r.started_at for r in records)
    runs: list[list[RequestRecord]] = []
    for record in sorted(records, key=lambda r: r.started_at):
        if record.ok:
            if runs and runs[-1]:
                runs.append([])
            continue
        if not runs:
            runs.append([])
        runs[-1].append(record)
    lines = []
    for run in [r for r in runs if r][:limit]:
        first, last = run[0], run[-1]
        reasons = Counter((r.pod, r.status, (r.error or r.body)[:160]) for r in run).most_common(3)
        described = "; ".join(f"{n}x pod={p} status={s} {why}" for (p, s, why), n in reasons)
        lines.append(
            f"{first.started_at - began:.2f}-{last.started_at - began:.2f}s "
            f"{len(run)} failed via {first.address}: {described}"
        )
    return "\n".join(lines) or "none failed"


# The driver ---------------------------------------------------------------------------------


class TrafficDriver:
    def __init__(
        self,
        api_client: Any,
        namespace: str,
        *,
        service: str | None = None,
        gateway: tuple[str, int] | None = None,
        host: str | None = None,
        http_route: str | None = None,
        connections: Connections = "pooled",
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
        keep_body_chars: int = 2048,
        netns: NetworkNamespace | None = None,
    ) -> None:
        if (service is None) == (gateway is None):
            raise ValueError("give exactly one of service= or gateway=")
        if http_route is not None and gateway is None:
            raise ValueError("http_route= names the route of a gateway=; give the gateway")
        if connections not in ("pooled", "fresh"):
            raise ValueError("connections must be 'pooled' or 'fresh'")
        if duration_s is None and max_requests is None:
            raise ValueError("traffic must be bounded: give duration_s, max_requests or both")
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.namespace = namespace
        self.service = service
        self.gateway = gateway
        self.host = host
        self.http_route = http_route
        self.connections = connections
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.path = path if path.startswith("/") else "/" + path
        self.method = method.upper()
        self.body = body
        self.headers = dict(headers or {})
        self.port = port
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.keep_body_chars = keep_body_chars
        self.netns = netns
        self._api_client = api_client
        self._allowed = is_cluster_address if netns is not None else is_loopback
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._target: tuple[str, int] | None = gateway
        self._target_error = "the Service has not been read yet"
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="traffic-driver", daemon=True)
        self._workers = [
            threading.Thread(target=self._work, name=f"traffic-{i}", daemon=True)
            for i in range(concurrency)
        ]
        self._refresher = threading.Thread(
            target=self._refresh_loop, name="traffic-service", daemon=True
        )
        self.refresh_errors: list[str] = []

    # Lifecycle ----------------------------------------------------------------------------

    def start(self) -> TrafficDriver:
        if self.http_route is not None and self.host is None:
            route = self._read(
                client.CustomObjectsApi(self._api_client).get_namespaced_custom_object,
                GATEWAY_GROUP,
                "v1",
                self.namespace,
                "httproutes",
                self.http_route,
            )
            if route is None:
                raise LookupError(f"no HTTPRoute {self.namespace}/{self.http_route}")
            self.host = route_hostname(route)
        if self.service is not None:
            self.refresh()
            self._refresher.start()
        for worker in self._workers:
            worker.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends the traffic now: requests not sent yet are dropped, those in flight finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._join_workers(None)

    def wait(self, timeout_s: float | None = None) -> list[RequestRecord]:
        """Blocks until the traffic has ended by itself (or timeout_s) and returns the records."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self._done.wait(timeout_s):
            self._join_workers(deadline)
        return self.records()

    def _join_workers(self, deadline: float | None) -> None:
        for worker in self._workers:
            if worker.is_alive():
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                worker.join(left)

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
        """Requests per revision that answered ('none' when none did), by status code
        ('error' when there was none)."""
        out: dict[str, Counter[str]] = {}
        for record in self.records():
            key = str(record.status) if record.status is not None else "error"
            out.setdefault(record.backend or "none", Counter())[key] += 1
        return {backend: dict(counts) for backend, counts in out.items()}

    # Target -------------------------------------------------------------------------------

    def _read(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = call(*args, _preload_content=False, _request_timeout=(3, 5), **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def refresh(self) -> None:
        """Reads the Service's ClusterIP and port again."""
        assert self.service is not None
        try:
            core = client.CoreV1Api(self._api_client)
            svc = self._read(core.read_namespaced_service, self.service, self.namespace)
            if svc is None:
                target, error = None, f"no Service {self.namespace}/{self.service}"
            else:
                target, error = service_address(svc, self.port), ""
        except Exception as exc:
            # Keep sending where the Service was, as clients do while the API is away.
            self.refresh_errors.append(f"{time.time():.3f} {exc}")
            return
        with self._lock:
            self._target, self._target_error = target, error

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_INTERVAL_S) and not self._done.is_set():
            self.refresh()

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
                self._queue.put(index)
                index += 1
        finally:
            for _ in self._workers:
                self._queue.put(None)
            self._done.set()

    def _work(self) -> None:
        entered: str | None = None
        if self.netns is not None:
            try:
                enter(self.netns.path)
            except Exception as exc:
                # Never send from the host's namespace, where these addresses mean other
                # machines.
                entered = f"could not enter the cluster's network namespace: {exc}"
        session = _session() if self.connections == "pooled" else None
        try:
            while (index := self._queue.get()) is not None:
                if self._stop.is_set():
                    continue
                started_at = time.time()
                if entered is not None:
                    self._record(
                        RequestRecord(index, started_at, None, None, None, None, 0.0, entered)
                    )
                    continue
                self._send(index, started_at, session)
        finally:
            if session is not None:
                session.close()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _send(self, index: int, started_at: float, session: requests.Session | None) -> None:
        with self._lock:
            target, target_error = self._target, self._target_error
        if target is None:
            self._record(
                RequestRecord(index, started_at, None, None, None, None, 0.0, target_error)
            )
            return
        ip, port = target
        address = netloc(ip, port)
        if not self._allowed(ip):
            error = f"refusing {address}: outside the cluster's network namespace"
            self._record(RequestRecord(index, started_at, None, None, address, None, 0.0, error))
            return
        data, extra_headers = encode_body(self.body(index) if self.body else None)
        headers = {**extra_headers, **self.headers}
        if self.host is not None:
            headers["Host"] = self.host
        fresh = session is None
        if fresh:
            # The server closes it too, so neither side keeps it for another request.
            headers["Connection"] = "close"
        sender = session or _session()
        began = time.monotonic()
        try:
            response = sender.request(
                self.method,
                f"http://{address}{self.path}",
                data=data,
                headers=headers,
                timeout=self.timeout_s,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._record(
                RequestRecord(
                    index,
                    started_at,
                    None,
                    None,
                    address,
                    None,
                    time.monotonic() - began,
                    f"{type(exc).__name__}: {exc}",
                )
            )
            return
        finally:
            if fresh:
                sender.close()
        revision, pod = served_by(response.headers)
        self._record(
            RequestRecord(
                index,
                started_at,
                revision,
                pod,
                address,
                response.status_code,
                time.monotonic() - began,
                None,
                response.text[: self.keep_body_chars],
            )
        )


def _session() -> requests.Session:
    session = requests.Session()
    # Proxies from the environment would take requests out of the cluster's namespace.
    session.trust_env = False
    return session
