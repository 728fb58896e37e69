"""The HTTP application: a plain ASGI callable, since a framework's routing and validation layers
cost more per request than the model itself does for small models."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hashlib
import hmac
import logging
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NamedTuple

import orjson

from . import __version__
from .artifacts import ArtifactError, ArtifactUnavailableError
from .config import Settings
from .keepalive import ConnectionBudget
from .metrics import ServingMetrics
from .model import ModelLoadError, PredictionError, ServedModel, load_model
from .protocol import ProtocolError, encode_infer_response, error_body, parse_infer_request
from .runtimes import RuntimeLoadError
from .shadow import Shadow, ShadowConfigError, parse_config

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The header the operator shows its token in on the admin port.
ADMIN_TOKEN_HEADER = b"modeldeploy-admin-token"
log = logging.getLogger("modeldeploy_serving")
access_log = logging.getLogger("modeldeploy_serving.access")

JSON = b"application/json"
_MODELS_PREFIX = "/v2/models/"
# Probes and scrapes arrive every few seconds; at INFO they would drown the request log.
_QUIET_ENDPOINTS = frozenset({"live", "ready", "model_ready", "metrics"})
_MAX_REQUEST_ID = 128
_RETRY_FIRST_SECONDS = 5.0
_RETRY_MAX_SECONDS = 60.0
# On every response, so that a client (or a test) behind a Service or a gateway can tell which
# revision and which pod answered without access to the cluster.
REVISION_HEADER = b"modeldeploy-revision"
POD_HEADER = b"modeldeploy-pod"
_CLOSE = (b"connection", b"close")


class Response(NamedTuple):
    status: int
    body: bytes
    content_type: bytes = JSON
    error: str | None = None
    allow: str | None = None
    request_body: bytes | None = None
    """An infer request's body, kept for a shadow copy."""


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(status, orjson.dumps(payload), error=payload.get("error"))


def _error(status: int, message: str) -> Response:
    return Response(status, error_body(message), error=message)


class ServingApp:
    def __init__(
        self,
        settings: Settings,
        metrics: ServingMetrics,
        loader: Callable[[], ServedModel] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._loader = loader or (lambda: load_model(settings))
        self.model: ServedModel | None = None
        self.not_ready_reason = "the model is loading"
        self.load_failed = False
        self.draining = False
        self._delay = settings.response_delay_ms / 1000.0
        self._model_metadata = b""
        self.shadow = Shadow(metrics.shadow, settings.model_name)
        # One thread: predictions still run one at a time, as they would on the event loop.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="predict")
        self._server_metadata = orjson.dumps(
            {"name": "modeldeploy-serving", "version": __version__, "extensions": []}
        )
        self.connections = ConnectionBudget(settings.max_requests_per_connection)
        # A pod's hostname is its name (the kubelet sets it so).
        self.pod_name = socket.gethostname()
        self._identity_headers = [(POD_HEADER, _header_value(self.pod_name))]
        if settings.model_revision:
            self._identity_headers.append((REVISION_HEADER, _header_value(settings.model_revision)))

    @property
    def ready(self) -> bool:
        return self.model is not None and not self.draining

    # -- lifecycle -----------------------------------------------------------------------------

    def start_loading(self) -> None:
        """Loads the model on a daemon thread, so probes are answered meanwhile and a shutdown
        does not wait for a slow download."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()

        def run() -> None:
            model: ServedModel | None = None
            reason = ""
            pause = _RETRY_FIRST_SECONDS
            while True:
                try:
                    model = self._loader()
                except ArtifactUnavailableError as exc:
                    # An unreachable store may come back; a pod that gave up would stay
                    # unready until someone restarted it.
                    log.warning(
                        "model artifact unavailable; retrying",
                        extra={"error": str(exc), "retry_in_s": pause},
                    )
                    reason = f"the model artifact is unavailable: {exc}; retrying"
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(self._retrying, reason)
                    time.sleep(pause)
                    pause = min(pause * 2, _RETRY_MAX_SECONDS)
                    continue
                except (ArtifactError, RuntimeLoadError, ModelLoadError) as exc:
                    reason = str(exc)
                except Exception as exc:
                    log.exception("unexpected error while loading the model")
                    reason = f"{type(exc).__name__}: {exc}"
                break
            elapsed = time.perf_counter() - started
            # RuntimeError: the server stopped (and closed its loop) while the model was loading.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._loaded, model, reason, elapsed)

        threading.Thread(target=run, name="model-loader", daemon=True).start()

    def _retrying(self, reason: str) -> None:
        if not self.draining:
            self.not_ready_reason = reason

    def _loaded(self, model: ServedModel | None, reason: str, seconds: float) -> None:
        if model is None:
            self.load_failed = True
            self.not_ready_reason = f"the model failed to load: {reason}"
            log.error(
                "model failed to load; the server stays not ready",
                extra={"reason": reason, "uri": self.settings.model_uri},
            )
            return
        self._model_metadata = orjson.dumps(
            {
                "name": self.settings.model_name,
                "versions": [self.settings.model_version],
                "platform": model.platform,
                "inputs": [spec.to_json() for spec in model.inputs],
                "outputs": [spec.to_json() for spec in model.outputs],
            }
        )
        for spec in model.outputs:
            if spec.datatype not in ("BYTES", "BOOL"):
                self.metrics.predictions.declare(spec.name)
        self.model = model
        # Everything allocated so far (libraries, the model) lives as long as the process; moving
        # it out of the collector's reach keeps full collections, and latency spikes, short.
        gc.collect()
        gc.freeze()
        self.metrics.set_load_seconds(seconds)
        self.metrics.set_ready(self.ready)
        log.info("model ready", extra={"load_s": round(seconds, 3), "ready": self.ready})

    def begin_drain(self) -> None:
        """Stops reporting ready while requests keep being served, so that the endpoints
        controller takes the pod out of rotation before it stops listening."""
        self.draining = True
        self.not_ready_reason = "the server is shutting down"
        self.metrics.set_ready(False)

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_loading()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shadow.stop()
                self._executor.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id: str | None = None
        content_length: int | None = None
        shadow_copy = False
        for key, value in scope["headers"]:
            if key == b"x-shadow":
                shadow_copy = True
            elif key == b"x-request-id":
                request_id = _valid_request_id(value)
            elif key == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    content_length = None
        if request_id is None:
            request_id = uuid.uuid4().hex

        endpoint = "unknown"
        try:
            endpoint, response = await self._dispatch(scope, receive, content_length, request_id)
        except _ClientGone:
            return
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            response = _error(500, "internal server error")

        headers = [
            (b"content-type", response.content_type),
            (b"content-length", str(len(response.body)).encode()),
            (b"x-request-id", request_id.encode()),
            *self._identity_headers,
        ]
        if response.allow is not None:
            headers.append((b"allow", response.allow.encode()))
        # Established connections keep reaching a terminating pod (the Service's rules only
        # place new ones), so while draining every answer ends its connection: keep-alive
        # clients move to a ready pod now rather than be cut off when the server stops.
        if self.connections.last_response(scope.get("client")) or self.draining:
            headers.append(_CLOSE)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

        elapsed = time.perf_counter() - started
        # A copy to a candidate only once the client has its answer; never a copy of a copy.
        if response.request_body is not None and response.status == 200 and not shadow_copy:
            self.shadow.offer(response.request_body, response.body)
        self.metrics.observe_request(endpoint, response.status, elapsed)
        if self.settings.access_log:
            level = logging.DEBUG if endpoint in _QUIET_ENDPOINTS else logging.INFO
            if response.status >= 500 and endpoint not in _QUIET_ENDPOINTS:
                level = logging.WARNING
            if access_log.isEnabledFor(level):
                extra: dict[str, Any] = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "endpoint": endpoint,
                    "status": response.status,
                    "duration_ms": round(elapsed * 1000.0, 3),
                }
                if response.error is not None:
                    extra["error"] = response.error
                access_log.log(level, "request", extra=extra)

    async def _dispatch(
        self, scope: Scope, receive: Receive, content_length: int | None, request_id: str
    ) -> tuple[str, Response]:
        path: str = scope["path"]
        method: str = scope["method"]
        if self.settings.admin_port and _local_port(scope) == self.settings.admin_port:
            return await self._admin_route(scope, path, method, receive, content_length)
        if path.startswith(_MODELS_PREFIX):
            return await self._model_route(path, method, receive, content_length)
        if path == "/v2/health/live":
            return "live", _only_get(method) or _json(200, {"live": True})
        if path == "/v2/health/ready":
            return "ready", _only_get(method) or self._ready_response({})
        if path in ("/v2", "/v2/"):
            return "server_metadata", _only_get(method) or Response(200, self._server_metadata)
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return "metrics", _method_not_allowed("GET")
            body, content_type = self.metrics.render()
            return "metrics", Response(200, body, content_type.encode())
        return "unknown", _error(404, f"no such endpoint: {path}")

    async def _admin_route(
        self,
        scope: Scope,
        path: str,
        method: str,
        receive: Receive,
        content_length: int | None,
    ) -> tuple[str, Response]:
        """The admin port answers the operator, who shows the token whose digest the pod was
        given, and no one else."""
        expected = self.settings.admin_token_sha256
        if expected is None:
            return "admin", _error(403, "no admin token is set (SERVING_ADMIN_TOKEN_SHA256)")
        token = _admin_token(scope)
        given = hashlib.sha256(token.encode()).hexdigest() if token is not None else ""
        if not hmac.compare_digest(given, expected):
            return "admin", _error(401, "the operator's token is required, in its header")
        if path == "/admin/shadow":
            return "shadow", await self._shadow_route(method, receive, content_length)
        return "admin", _error(404, f"no such admin endpoint: {path}")

    async def _shadow_route(
        self, method: str, receive: Receive, content_length: int | None
    ) -> Response:
        if method == "DELETE":
            self.shadow.configure(None)
            return _json(200, {"shadow": None})
        if method == "POST":
            try:
                body = await _read_body(receive, 64 * 1024, content_length)
                config = parse_config(
                    body,
                    self.settings.model_name,
                    time.monotonic(),
                    self.settings.shadow_target_suffixes,
                )
            except _BodyTooLarge:
                return _error(413, "shadow settings larger than 64 KiB")
            except ShadowConfigError as error:
                return _error(400, f"shadow: {error}")
            self.shadow.configure(config)
            return _json(200, {"shadow": config.describe()})
        if method in ("GET", "HEAD"):
            active = self.shadow.active(time.monotonic())
            return _json(200, {"shadow": active.describe() if active else None})
        return _method_not_allowed("GET, POST, DELETE")

    def _ready_response(self, identity: dict[str, Any]) -> Response:
        if self.ready:
            return _json(200, {**identity, "ready": True})
        return _json(503, {**identity, "ready": False, "error": self.not_ready_reason})

    async def _model_route(
        self, path: str, method: str, receive: Receive, content_length: int | None
    ) -> tuple[str, Response]:
        name, *rest = path[len(_MODELS_PREFIX) :].split("/")
        version: str | None = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        if not rest:
            endpoint = "metadata"
        elif rest == ["ready"]:
            endpoint = "model_ready"
        elif rest == ["infer"]:
            endpoint = "infer"
        else:
            return "unknown", _error(404, f"no such endpoint: {path}")

        settings = self.settings
        if name != settings.model_name:
            response = _error(
                404, f"model {name!r} not found; this server serves {settings.model_name!r}"
            )
        elif version is not None and version != settings.model_version:
            response = _error(
                404,
                f"model {name!r} has no version {version!r}; "
                f"this server serves version {settings.model_version!r}",
            )
        elif endpoint == "infer":
            if method != "POST":
                return endpoint, _method_not_allowed("POST")
            with self.metrics.in_flight.track_inprogress():
                response = await self._infer(receive, content_length)
                if self._delay:
                    await asyncio.sleep(self._delay)
            return endpoint, response
        elif (not_allowed := _only_get(method)) is not None:
            response = not_allowed
        elif endpoint == "model_ready":
            response = self._ready_response(
                {"name": settings.model_name, "version": settings.model_version}
            )
        elif self.model is None:
            response = _error(
                503, f"model {settings.model_name!r} is not ready: {self.not_ready_reason}"
            )
        else:
            response = Response(200, self._model_metadata)
        return endpoint, response

    async def _infer(self, receive: Receive, content_length: int | None) -> Response:
        settings = self.settings
        model = self.model
        if model is None:
            return _error(
                503, f"model {settings.model_name!r} is not ready: {self.not_ready_reason}"
            )
        try:
            body = await _read_body(receive, settings.max_body_bytes, content_length)
        except _BodyTooLarge:
            return _error(
                413,
                f"request body is larger than {settings.max_body_bytes} bytes "
                "(SERVING_MAX_BODY_BYTES)",
            )
        try:
            request = parse_infer_request(
                body, model.inputs, model.output_names, settings.max_batch_rows
            )
        except ProtocolError as exc:
            return _error(exc.status, str(exc))
        try:
            if model.offload:
                outputs = await asyncio.get_running_loop().run_in_executor(
                    self._executor, model.predict, request.inputs, request.outputs
                )
            else:
                outputs = model.predict(request.inputs, request.outputs)
        except PredictionError as exc:
            return _error(500, f"model {settings.model_name!r} failed to predict: {exc}")
        observe = self.metrics.predictions.observe
        for spec, value in outputs:
            if spec.datatype not in ("BYTES", "BOOL"):
                observe(spec.name, value)
        return Response(
            200,
            encode_infer_response(settings.model_name, settings.model_version, request.id, outputs),
            request_body=body,
        )


async def _read_body(receive: Receive, limit: int, content_length: int | None) -> bytes:
    if content_length is not None and content_length > limit:
        raise _BodyTooLarge
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _BodyTooLarge
        return body
    # Chunked or split bodies: keep reading, but never past the limit.
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _header_value(text: str) -> bytes:
    # Hostnames and revisions are ASCII; anything else must not break the response.
    return text.encode("ascii", "replace")


def _valid_request_id(raw: bytes) -> str | None:
    # Client-chosen ids end up in logs; anything but short printable ASCII is replaced.
    if 0 < len(raw) <= _MAX_REQUEST_ID and all(0x21 <= c <= 0x7E for c in raw):
        return raw.decode("ascii")
    return None


def _only_get(method: str) -> Response | None:
    return None if method in ("GET", "HEAD") else _method_not_allowed("GET")


def _method_not_allowed(allowed: str) -> Response:
    return Response(405, error_body(f"method not allowed; use {allowed}"), allow=allowed)


def _local_port(scope: Scope) -> int | None:
    server = scope.get("server")
    return int(server[1]) if server and len(server) > 1 and server[1] is not None else None


def _admin_token(scope: Scope) -> str | None:
    # A header of its own, not Authorization: through the API server's pod proxy (an operator
    # outside the cluster), Authorization is the API server's.
    for key, value in scope["headers"]:
        if key == ADMIN_TOKEN_HEADER:
            return value.decode("latin-1").strip() or None
    return None
