"""Shadow traffic: this pod copies a sample of the requests it has answered to a candidate
revision, compares the candidate's answers with its own and counts how far they agree.

The copy never touches the client's request: it is offered only after the answer is sent, a
full queue drops it, and the candidate's answer is never returned to anyone. The operator
turns it on for a while (`POST /admin/shadow`), naming the candidate's Service inside the
cluster; the setting lapses on its own unless renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from .metrics import ShadowMetrics

log = logging.getLogger("modeldeploy_serving.shadow")

QUEUE_SIZE = 64
CONCURRENCY = 4
TIMEOUT_SECONDS = 2.0
MAX_TTL_SECONDS = 600.0
RESOLVE_TTL_SECONDS = 30.0
_MAX_ANSWER_BYTES = 8 * 1024 * 1024
# The copy goes only to a Service of the cluster, never to just any address.
CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local")
_LABEL_TYPES = frozenset({"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "BYTES"})


class ShadowConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ShadowConfig:
    host: str
    port: int
    path: str
    percent: float
    candidate_revision: str
    expires_at: float  # time.monotonic()

    def describe(self) -> dict[str, Any]:
        return {
            "target": f"http://{self.host}:{self.port}{self.path}",
            "percent": self.percent,
            "candidateRevision": self.candidate_revision,
            "expiresInSeconds": round(max(self.expires_at - time.monotonic(), 0.0), 1),
        }


def parse_config(
    body: bytes, model_name: str, now: float, suffixes: tuple[str, ...] = CLUSTER_SUFFIXES
) -> ShadowConfig:
    """The operator's `POST /admin/shadow` body: target (the candidate's Service URL),
    percent, candidateRevision, ttlSeconds."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ShadowConfigError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ShadowConfigError("expected a JSON object")
    target, percent = raw.get("target"), raw.get("percent")
    candidate, ttl = raw.get("candidateRevision"), raw.get("ttlSeconds", 60)
    if not isinstance(target, str):
        raise ShadowConfigError("target: a URL string is required")
    parts = urlsplit(target)
    host = parts.hostname or ""
    if parts.scheme != "http" or not host.endswith(suffixes):
        raise ShadowConfigError(
            f"target: must be http://<host>[:port] with a host ending in {', '.join(suffixes)}"
        )
    if parts.path not in ("", "/") or parts.query or parts.username:
        raise ShadowConfigError("target: only scheme, host and port may be given")
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise ShadowConfigError("percent: a number is required")
    if not 0 < percent <= 100:
        raise ShadowConfigError("percent: must be above 0 and at most 100")
    if not isinstance(candidate, str) or not 0 < len(candidate) <= 63:
        raise ShadowConfigError("candidateRevision: a revision name is required")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL_SECONDS:
        raise ShadowConfigError(f"ttlSeconds: must be above 0 and at most {MAX_TTL_SECONDS:g}")
    return ShadowConfig(
        host=host,
        port=parts.port or 80,
        path=f"/v2/models/{model_name}/infer",
        percent=float(percent),
        candidate_revision=candidate,
        expires_at=now + float(ttl),
    )


@dataclass(frozen=True)
class Comparison:
    labels: int = 0
    agreed: int = 0
    values: int = 0
    abs_diff: float = 0.0


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [item for element in data for item in _flatten(element)]
    return [data]


def _outputs(answer: Any) -> dict[str, dict[str, Any]]:
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list):
        return {}
    return {str(o.get("name")): o for o in outputs if isinstance(o, dict)}


def compare(own: Any, candidate: Any) -> Comparison:
    """Element by element, output by output (by name): label-like outputs agree or not;
    floating-point ones differ by some amount. An output the candidate lacks, or one of
    another length, disagrees on every element."""
    labels = agreed = values = 0
    abs_diff = 0.0
    theirs = _outputs(candidate)
    for name, output in _outputs(own).items():
        mine = _flatten(output.get("data"))
        other = theirs.get(name)
        their_data = _flatten(other.get("data")) if other is not None else []
        same_shape = other is not None and len(their_data) == len(mine)
        if output.get("datatype") in _LABEL_TYPES:
            labels += len(mine)
            if same_shape:
                agreed += sum(1 for a, b in zip(mine, their_data, strict=True) if a == b)
            continue
        values += len(mine)
        if not same_shape:
            abs_diff += float(len(mine))  # as far apart as a probability can be
            continue
        for a, b in zip(mine, their_data, strict=True):
            difference = _difference(a, b)
            abs_diff += difference
    return Comparison(labels, agreed, values, abs_diff)


def _difference(a: Any, b: Any) -> float:
    if isinstance(a, bool) or isinstance(b, bool):
        return 0.0 if a == b else 1.0
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return 1.0
    difference = abs(float(a) - float(b))
    return difference if math.isfinite(difference) else 1.0


class Shadow:
    """The copying of one pod. `offer` is called on the event loop after each answer."""

    def __init__(
        self,
        metrics: ShadowMetrics,
        model_name: str,
        queue_size: int = QUEUE_SIZE,
        concurrency: int = CONCURRENCY,
        timeout_s: float = TIMEOUT_SECONDS,
    ) -> None:
        self.metrics = metrics
        self.model_name = model_name
        self.config: ShadowConfig | None = None
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._queue: asyncio.Queue[tuple[ShadowConfig, bytes, bytes]] = asyncio.Queue(
            maxsize=queue_size
        )
        self._workers: list[asyncio.Task[None]] = []
        self._random = random.Random()
        self._resolved: dict[str, tuple[str, float]] = {}

    def configure(self, config: ShadowConfig | None) -> None:
        if config is not None:
            self.metrics.declare(config.candidate_revision)
            self._start()
        if (config is None) != (self.config is None):
            log.info(
                "shadow %s", "on" if config else "off", extra=config.describe() if config else {}
            )
        self.config = config

    def active(self, now: float) -> ShadowConfig | None:
        config = self.config
        if config is not None and now >= config.expires_at:
            self.config = config = None
            log.info("shadow off: not renewed in time")
        return config

    def offer(self, request: bytes, answer: bytes) -> None:
        """A request answered 200 with `answer`: copied with the configured probability."""
        config = self.active(time.monotonic())
        if config is None or self._random.random() * 100 >= config.percent:
            return
        try:
            self._queue.put_nowait((config, request, answer))
        except asyncio.QueueFull:
            self.metrics.count(config.candidate_revision, "dropped")

    def _start(self) -> None:
        if self._workers:
            return
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _address(self, host: str) -> str:
        """The Service's address, looked up once a while: a ClusterIP does not move, and a
        lookup per copy would cost the cluster's DNS more than the copy costs the model."""
        now = time.monotonic()
        cached = self._resolved.get(host)
        if cached is not None and now - cached[1] < RESOLVE_TTL_SECONDS:
            return cached[0]
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        address = str(infos[0][4][0])
        self._resolved[host] = (address, now)
        return address

    async def _work(self) -> None:
        while True:
            config, request, answer = await self._queue.get()
            try:
                try:
                    address = await self._address(config.host)
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(address, config.port), self.timeout_s
                    )
                except (OSError, TimeoutError) as error:
                    # Not an answer of the candidate: its Service has no ready endpoint yet, or
                    # the network is in the way. Counted apart from its errors.
                    self.metrics.count(config.candidate_revision, "unreachable")
                    log.debug("shadow copy not delivered: %s", error)
                    continue
                status, body = await asyncio.wait_for(
                    exchange(reader, writer, config.host, config.path, request), self.timeout_s
                )
                if status != 200:
                    self.metrics.count(config.candidate_revision, "candidate_error")
                    continue
                found = compare(orjson.loads(answer), orjson.loads(body))
                self.metrics.compared(
                    config.candidate_revision,
                    found.labels,
                    found.agreed,
                    found.values,
                    found.abs_diff,
                )
            except (OSError, TimeoutError, ValueError, orjson.JSONDecodeError) as error:
                self.metrics.count(config.candidate_revision, "candidate_error")
                log.debug("shadow request failed: %s", error)
            finally:
                self._queue.task_done()


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    path: str,
    body: bytes,
) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on a connection of its own, closed after: (status, body)."""
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Shadow: 1\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        length: int | None = None
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length is not None and length > _MAX_ANSWER_BYTES:
            raise ValueError("answer too large")
        data = (
            await reader.readexactly(length)
            if length is not None
            else await reader.read(_MAX_ANSWER_BYTES)
        )
        return int(parts[1]), data
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
