"""Sends notifications to webhooks, off the reconcile path.

A reconcile only queues; worker threads resolve each URL (from a Secret when configured so)
and POST with a timeout and a few retries. A slow or failing receiver delays nothing but other
notifications, and a full queue drops the newest with a count, never blocks.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3

from modeldeploy.shell import metrics
from modeldeploy.shell.notify.message import SecretKey, Target, payload

log = logging.getLogger("modeldeploy.shell.notify.sender")

ATTEMPTS = 3
BACKOFF_S = 1.0
TIMEOUT_S = 5.0
QUEUE_SIZE = 1000

SecretReader = Callable[[str, str, str], str | None]


@dataclass(frozen=True)
class _Delivery:
    target: Target
    message: dict[str, Any]


class Notifier:
    def __init__(self, read_secret: SecretReader, workers: int = 2) -> None:
        self._read_secret = read_secret
        self._queue: queue.Queue[_Delivery | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=TIMEOUT_S), retries=False)
        self._threads = [
            threading.Thread(target=self._work, name=f"notify-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, targets: list[Target], message: dict[str, Any]) -> None:
        for target in targets:
            try:
                self._queue.put_nowait(_Delivery(target, message))
            except queue.Full:
                metrics.NOTIFICATIONS.labels("dropped").inc()
                log.warning("notification queue full; dropped one for %s", target.name)

    def stop(self) -> None:
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                return

    def _url(self, target: Target) -> str | None:
        if target.url is not None:
            return target.url
        secret: SecretKey | None = target.url_secret
        if secret is None:
            return None
        return self._read_secret(secret.namespace, secret.name, secret.key)

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._deliver(delivery)
            except Exception:
                log.exception("notification to %s failed", delivery.target.name)
                metrics.NOTIFICATIONS.labels("failed").inc()

    def _deliver(self, delivery: _Delivery) -> None:
        target = delivery.target
        url = self._url(target)
        if not url:
            log.warning(
                "notification %s (%s): no URL: its Secret or key is missing",
                target.name,
                target.owner,
            )
            metrics.NOTIFICATIONS.labels("failed").inc()
            return
        body = json.dumps(payload(target, delivery.message)).encode()
        last = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = self._http.request(
                    "POST", url, body=body, headers={"Content-Type": "application/json"}
                )
            except urllib3.exceptions.HTTPError as error:
                last = str(error)
                continue
            if response.status < 300:
                metrics.NOTIFICATIONS.labels("sent").inc()
                return
            last = f"HTTP {response.status}"
            if 400 <= response.status < 500 and response.status != 429:
                break  # the receiver refuses this message; sending it again will not help
        metrics.NOTIFICATIONS.labels("failed").inc()
        log.warning(
            "notification %s (%s) of %s failed: %s",
            target.name,
            target.owner,
            delivery.message.get("kind"),
            last,
        )
