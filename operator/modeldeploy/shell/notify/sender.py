"""Sends notifications to webhooks, off the reconcile path.

A reconcile only queues; worker threads resolve each URL (from a Secret when configured so)
and POST with a timeout and a few retries. A slow or failing receiver delays nothing but other
notifications, and a full queue drops the newest with a count, never blocks.

Each URL is judged again at send time (`api.webhook_targets`): a Secret's URL was never seen
at apply, and a name may resolve elsewhere than it reads. Every address the host resolves to is
checked, and the connection goes to one of those checked, so a second, different answer
(DNS rebinding) is never asked for. Redirects are not followed; logs name the host, never the
URL, whose path or query may carry a token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

from modeldeploy.api.webhook_targets import (
    STRICT,
    Address,
    TargetRules,
    address_problem,
    host_of,
    url_problem,
)
from modeldeploy.shell import metrics
from modeldeploy.shell.notify.message import SecretKey, Target, payload

log = logging.getLogger("modeldeploy.shell.notify.sender")

ATTEMPTS = 3
BACKOFF_S = 1.0
TIMEOUT_S = 5.0
QUEUE_SIZE = 1000

SecretReader = Callable[[str, str, str], str | None]
Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the addresses it resolves to."""


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Refused(Exception):
    """The target is not one notifications go to; the message names the host only."""


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def error_reason(error: BaseException) -> str:
    """What went wrong, without the URL an HTTP library's message repeats."""
    match = _ERRNO.search(str(error))
    return match.group(1).strip() if match else type(error).__name__


def checked_address(url: str, targets: TargetRules, resolver: Resolver) -> Address:
    """The address to connect to for `url`: every one its host resolves to must be allowed."""
    problem = url_problem(url, targets)
    host = host_of(url)
    if problem is not None:
        raise Refused(f"host {host}: {problem}")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, ValueError) as error:
        raise Refused(f"host {host} does not resolve: {error_reason(error)}") from None
    if not found:
        raise Refused(f"host {host} does not resolve")
    if not targets.host_allowed(host):
        for address in found:
            why = address_problem(address, targets)
            if why is not None:
                raise Refused(f"host {host} resolves to {why}")
    return found[0]


@dataclass(frozen=True)
class _Delivery:
    target: Target
    message: dict[str, Any]


class Notifier:
    def __init__(
        self,
        read_secret: SecretReader,
        workers: int = 2,
        targets: TargetRules = STRICT,
        resolver: Resolver = resolve,
    ) -> None:
        self._read_secret = read_secret
        self._targets = targets
        self._resolver = resolver
        self._queue: queue.Queue[_Delivery | None] = queue.Queue(maxsize=QUEUE_SIZE)
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
            except Exception as error:
                # Its type only: the text of an error on the way may hold the URL or the Secret.
                log.warning(
                    "notification %s (%s) failed: %s",
                    delivery.target.name,
                    delivery.target.owner,
                    type(error).__name__,
                )
                metrics.NOTIFICATIONS.labels("failed").inc()

    def _deliver(self, delivery: _Delivery) -> None:
        target = delivery.target
        url = self._url(target)
        if not url:
            log.warning(
                "notification %s (%s): no URL: its Secret or key is missing or empty",
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
                # Resolved and checked at each attempt: the answer may have changed meanwhile.
                address = checked_address(url, self._targets, self._resolver)
                status = self._post(url, address, body)
            except Refused as refused:
                metrics.NOTIFICATIONS.labels("refused").inc()
                log.warning(
                    "notification %s (%s) of %s refused: %s",
                    target.name,
                    target.owner,
                    delivery.message.get("kind"),
                    refused,
                )
                return
            except urllib3.exceptions.HTTPError as error:
                last = f"host {host_of(url)}: {error_reason(error)}"
                continue
            if status < 300:
                metrics.NOTIFICATIONS.labels("sent").inc()
                return
            last = f"host {host_of(url)} answered HTTP {status}"
            if 300 <= status < 400:
                break  # a redirect is not followed: it could point anywhere
            if 400 <= status < 500 and status != 429:
                break  # the receiver refuses this message; sending it again will not help
        metrics.NOTIFICATIONS.labels("failed").inc()
        log.warning(
            "notification %s (%s) of %s failed: %s",
            target.name,
            target.owner,
            delivery.message.get("kind"),
            last,
        )

    def _post(self, url: str, address: Address, body: bytes) -> int:
        """POSTs to `address`, the checked one, naming the URL's host in Host and, over TLS,
        in SNI and the certificate check; returns the status, never following a redirect."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeout = urllib3.Timeout(total=TIMEOUT_S)
        pool: urllib3.HTTPConnectionPool
        if parts.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                port,
                timeout=timeout,
                retries=False,
                server_hostname=host,
                assert_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False)
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        default_port = port == (443 if parts.scheme == "https" else 80)
        host_header = host if ":" not in host else f"[{host}]"
        if not default_port:
            host_header += f":{port}"
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "Host": host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
            )
            return int(response.status)
