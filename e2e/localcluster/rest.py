"""Small HTTPS client for the harness's own checks against the API server and components."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import requests
import urllib3

from e2e.localcluster.pki import ClusterPKI


class ApiRest:
    """JSON requests to the API server as the cluster admin."""

    def __init__(self, server: str, pki: ClusterPKI, timeout_s: float = 5) -> None:
        self.server = server
        self._session = local_session()
        self._session.verify = str(pki.ca.cert)
        self._session.cert = (str(pki.admin.cert), str(pki.admin.key))
        self._timeout = timeout_s

    def get(self, path: str) -> requests.Response:
        return self._session.get(self.server + path, timeout=self._timeout)

    def get_json(self, path: str) -> dict[str, Any] | None:
        """The object at path, or None when it does not exist (yet)."""
        response = self.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def close(self) -> None:
        self._session.close()


def local_session() -> requests.Session:
    """A session that ignores proxy and CA-bundle variables: everything here is on loopback,
    and REQUESTS_CA_BUNDLE would otherwise replace the cluster's own CA."""
    session = requests.Session()
    session.trust_env = False
    return session


def insecure_get(url: str, timeout_s: float = 2) -> requests.Response:
    """For health endpoints served with the components' own self-signed certificates."""
    with warnings.catch_warnings(), local_session() as session:
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return session.get(url, timeout=timeout_s, verify=False)


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    *,
    interval_s: float = 0.1,
    abort: Callable[[], str | None] = lambda: None,
) -> None:
    """Polls check until it is true; abort returns a reason to give up early."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while True:
        reason = abort()
        if reason:
            raise TimeoutError(f"gave up waiting for {what}: {reason}")
        try:
            if check():
                return
        except (requests.RequestException, OSError, ValueError) as exc:
            last_error = f" (last error: {exc})"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}{last_error}")
        time.sleep(interval_s)
