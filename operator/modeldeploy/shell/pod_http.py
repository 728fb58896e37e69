"""Asking a revision's pods over HTTP, as the preflight does: straight to the pod's address
where the operator runs inside the cluster, or through the API server's pod proxy where it
runs outside (a developer's machine), where pod addresses cannot be reached.

A pod runs code its author chose, so its answers are untrusted: a redirect is never followed
(through the API server's proxy it would be followed with the operator's own credentials),
and only the status and body come back, never a header."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes import client

DIRECT = "direct"
API_SERVER = "apiserver"
TRANSPORTS = (DIRECT, API_SERVER)


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    ip: str


class PodUnreachable(Exception):
    """Nothing came back: the connection failed or timed out."""


class PodHttp(Protocol):
    def request(
        self,
        pod: Pod,
        port: int,
        method: str,
        path: str,
        body: Any,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(HTTP status, the JSON body, or its text when it is not JSON)."""
        ...


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:1000]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is returned as it is (an HTTPError), never followed."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


class DirectPodHttp:
    def request(
        self,
        pod: Pod,
        port: int,
        method: str,
        path: str,
        body: Any,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        http_request = urllib.request.Request(
            f"http://{pod.ip}:{port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with _OPENER.open(http_request, timeout=timeout_s) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise PodUnreachable(f"{pod.name}: {getattr(error, 'reason', error)}") from error


class ApiServerPodHttp:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client

    def request(
        self,
        pod: Pod,
        port: int,
        method: str,
        path: str,
        body: Any,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        resource = f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}:{port}/proxy{path}"
        try:
            http_method, url, sent_headers, _, _ = self.api_client.param_serialize(
                method,
                resource,
                header_params={
                    "Content-Type": "application/json",
                    "Accept": "*/*",
                    **(headers or {}),
                },
                body=body,
                auth_settings=["BearerToken"],
            )
            # The client's own request would follow a redirect, credentials and all.
            response = self.api_client.rest_client.pool_manager.request(
                http_method,
                url,
                body=None if body is None else json.dumps(body),
                headers=sent_headers,
                timeout=urllib3.Timeout(total=timeout_s),
                redirect=False,
                retries=False,
            )
            raw = response.data
        except Exception as error:  # urllib3's timeouts and connection errors
            raise PodUnreachable(f"{pod.name}: {type(error).__name__}") from error
        decoded = _decode(raw if isinstance(raw, bytes) else str(raw).encode())
        if response.status in (502, 503) and _api_server_status(decoded):
            raise PodUnreachable(f"{pod.name}: {decoded.get('message', response.reason)}")
        return int(response.status), decoded


def _api_server_status(body: Any) -> bool:
    """The API server's own proxy errors (no connection to the pod) are Status objects; a
    pod's answers are not."""
    return isinstance(body, dict) and body.get("kind") == "Status"


def pod_http_for(transport: str, api_client: client.ApiClient) -> PodHttp:
    if transport == API_SERVER:
        return ApiServerPodHttp(api_client)
    return DirectPodHttp()
