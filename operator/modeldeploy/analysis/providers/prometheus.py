"""The Prometheus provider: instant queries over HTTP, errors worded for a status field."""

from __future__ import annotations

import ast
import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from modeldeploy.analysis.providers.base import ProviderError, single_value, vector_samples

_MAX_ERROR_BODY = 300


def _without_credentials(url: str) -> str:
    """Scheme, host and port: what messages and logs name, never a path, query or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, "", "", ""))


_HTTP_ERROR = re.compile(r"HTTP Status Code (\d+) \((b'.*'|b\".*\")\)", re.DOTALL)


def _api_error(exc: PrometheusApiClientException, where: str) -> ProviderError:
    """A readable error from the client's "HTTP Status Code N (b'<body>')" exception.

    Prometheus explains a rejected query in the JSON body ("errorType", "error"); that text,
    not the status line, is what tells a user which part of their PromQL is wrong.
    """
    text = str(exc)
    match = _HTTP_ERROR.fullmatch(text)
    if match is None:
        return ProviderError(f"Prometheus at {where}: {text[:_MAX_ERROR_BODY]}")
    status = int(match.group(1))
    try:
        body = ast.literal_eval(match.group(2)).decode("utf-8", errors="replace")
    except (ValueError, SyntaxError, AttributeError):
        body = match.group(2)
    try:
        payload = json.loads(body)
        error_type, error = str(payload["errorType"]), str(payload["error"])
    except (ValueError, KeyError, TypeError):
        return ProviderError(
            f"Prometheus at {where} answered HTTP {status}: {body[:_MAX_ERROR_BODY]}"
        )
    if error_type == "timeout":
        return ProviderError(f"Prometheus query timed out: {error}")
    if error_type in ("bad_data", "execution"):
        return ProviderError(f"Prometheus rejected the query: {error}")
    return ProviderError(f"Prometheus at {where} answered HTTP {status} ({error_type}): {error}")


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _connection_reason(exc: requests.ConnectionError) -> str:
    # The full text repeats the whole request URL, query included; the errno text is the news.
    match = _ERRNO.search(str(exc))
    return match.group(1).strip() if match else type(exc).__name__


class PrometheusProvider:
    """Instant queries against the Prometheus HTTP API at `url`."""

    def __init__(self, url: str, timeout_s: float = 5) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._url = url.rstrip("/")
        self._where = _without_credentials(self._url)
        self._timeout_s = timeout_s
        # One quick retry of a failed connect only: the client's default retries 5xx answers
        # with backoff, which would stretch a slow Prometheus far past the timeout.
        # No redirect is followed: an answer elsewhere is no answer of this Prometheus.
        retry = Retry(total=None, connect=1, read=False, status=0, other=0, redirect=0)
        self._client = PrometheusConnect(url=self._url, retry=retry, timeout=timeout_s)
        self._client._session.max_redirects = 0

    def query(self, promql: str) -> float | None:
        return single_value(self._result(promql))

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        return vector_samples(self._result(promql))

    def _result(self, promql: str) -> Any:
        try:
            result = self._client.custom_query(
                promql,
                # Prometheus also stops evaluating at the timeout instead of working on for
                # an answer nobody waits for.
                params={"timeout": f"{self._timeout_s:g}"},
                timeout=self._timeout_s,
            )
        except requests.Timeout:
            raise ProviderError(
                f"Prometheus at {self._where} did not answer within {self._timeout_s:g}s"
            ) from None
        except requests.ConnectionError as exc:
            raise ProviderError(
                f"Prometheus at {self._where} is unreachable: {_connection_reason(exc)}"
            ) from None
        except requests.JSONDecodeError:
            raise ProviderError(f"Prometheus at {self._where} answered with non-JSON") from None
        except requests.TooManyRedirects:
            raise ProviderError(
                f"Prometheus at {self._where} answered with a redirect, which is not followed"
            ) from None
        except requests.RequestException as exc:
            raise ProviderError(f"Prometheus at {self._where}: {type(exc).__name__}") from None
        except PrometheusApiClientException as exc:
            raise _api_error(exc, self._where) from None
        except (KeyError, TypeError):
            raise ProviderError(
                f"Prometheus at {self._where} answered without data.result"
            ) from None
        return result

    def is_online(self) -> bool:
        """True when Prometheus answers a trivial query correctly, not merely accepts TCP."""
        try:
            return self.query("vector(1)") == 1.0
        except ProviderError:
            return False
