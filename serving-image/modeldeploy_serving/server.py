"""Process entry point: configuration, logging, and uvicorn with a Kubernetes-friendly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Generator

import uvicorn
from prometheus_client import disable_created_metrics

from .app import ServingApp
from .config import ConfigError, Settings
from .logs import setup_logging
from .metrics import ServingMetrics

log = logging.getLogger("modeldeploy_serving")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: report not ready at once, keep serving for the drain period
    (Kubernetes keeps routing to a terminating pod until its endpoints update), then stop
    accepting, let in-flight requests finish and exit 0. A second signal skips the drain."""

    def __init__(
        self, config: uvicorn.Config, on_drain: Callable[[], None], drain_seconds: float
    ) -> None:
        super().__init__(config)
        self._on_drain = on_drain
        self._drain_seconds = drain_seconds
        self._drain_deadline: float | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn's own handlers stop listening at once and re-raise the signal after shutdown,
        # which would end the process with a signal status instead of 0.
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._signalled, sig)
        try:
            yield
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: signal.Signals) -> None:
        if self._drain_deadline is None:
            log.info(
                "shutdown requested; no longer ready, draining",
                extra={"signal": sig.name, "drain_s": self._drain_seconds},
            )
            self._drain_deadline = time.monotonic() + self._drain_seconds
            self._on_drain()
        elif self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and time.monotonic() >= self._drain_deadline:
            self.should_exit = True
        return await super().on_tick(counter)


def build_server(settings: Settings) -> tuple[GracefulServer, ServingApp]:
    metrics = ServingMetrics(
        settings.model_name,
        settings.model_version,
        settings.model_revision,
        settings.model_format,
        settings.prediction_buckets,
    )
    app = ServingApp(settings, metrics)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="auto",
        http="auto",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        # The server is reached directly or through a Service; forwarded headers mean nothing.
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
    )
    return GracefulServer(config, app.begin_drain, settings.drain_seconds), app


def main() -> int:
    setup_logging()
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return 2
    logging.getLogger().setLevel(settings.log_level)
    if settings.workers > 1:
        log.warning(
            "SERVING_WORKERS is ignored: the server runs one process per container; "
            "scale with replicas instead",
            extra={"workers": settings.workers},
        )
    # The *_created series double the exposition and nothing reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    server, _ = build_server(settings)
    log.info(
        "starting",
        extra={
            "model": settings.model_name,
            "version": settings.model_version,
            "revision": settings.model_revision,
            "format": settings.model_format,
            "uri": settings.model_uri,
            "port": settings.port,
            "admin_port": settings.admin_port,
        },
    )
    # The admin port is a socket of the same server: one event loop, one app, which tells the
    # two apart by the port a request came in on.
    sockets = [_listen(settings.host, settings.port)]
    if settings.admin_port:
        sockets.append(_listen(settings.host, settings.admin_port))
    server.run(sockets=sockets)
    return 0 if server.started else 1


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)
