"""What went wrong, in one line a person reads: never an API body or a traceback."""

from __future__ import annotations

import json
import re
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from modeldeploy.api.spec import GROUP, PLURAL, VERSION

_URLLIB3_PREFIX = re.compile(r"^(?:<[^>]*>|\w*Connection(?:Pool)?\([^)]*\)|None): ")


class CommandError(Exception):
    """A failure already put in words."""


def describe(error: BaseException, namespace: str | None = None, server: str | None = None) -> str:
    """The one line for an error from the Kubernetes client, its configuration or the network;
    `namespace` is the one the command works in, `server` the API server's address."""
    if isinstance(error, CommandError):
        return str(error)
    if isinstance(error, ApiException):
        return describe_api_error(error, namespace)
    if isinstance(error, ConfigException):
        return f"kubeconfig: {_sentence(str(error))}"
    if isinstance(error, HTTPError | OSError):
        where = f" at {server}" if server else ""
        return f"cannot reach the cluster{where}: {_network_cause(error)}"
    return f"{type(error).__name__}: {_sentence(str(error))}"


def describe_api_error(error: ApiException, namespace: str | None = None) -> str:
    """An answer of the API server, said as kubectl says it."""
    status = _status_of(error.body)
    message = str(status.get("message") or "").strip()
    details = status.get("details") or {}
    if error.status == 404:
        name = details.get("name")
        if name:
            kind = _singular(str(details.get("kind") or "object"))
            where = f" in namespace {namespace}" if namespace else ""
            return f"{kind} {name} not found{where}"
        return (
            f"the cluster does not serve {PLURAL}.{GROUP}/{VERSION}: "
            "is the ModelDeployment CRD installed?"
        )
    if error.status == 401:
        return f"the cluster refused the credentials: {message or 'Unauthorized'}"
    if message:
        return message
    reason = str(error.reason or "").strip()
    return f"the API server answered {error.status}{': ' + reason if reason else ''}"


def _status_of(body: Any) -> dict[str, Any]:
    """The Status object an API error carries, or {} when the body is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _singular(plural: str) -> str:
    kind = plural.split(".", 1)[0]
    return kind[:-1] if kind.endswith("s") else kind


def _network_cause(error: BaseException) -> str:
    """The innermost cause that says something: "Connection refused", "Name or service not
    known", a certificate that does not verify, a timeout."""
    seen: set[int] = set()
    current: BaseException | None = error
    innermost = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        if isinstance(current, OSError) and current.strerror:
            return str(current.strerror)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else current.__cause__
    # urllib3 puts the connection or its pool before the cause: "HTTPConnection(...): cause".
    text = _URLLIB3_PREFIX.sub("", str(innermost))
    return _sentence(text) or type(innermost).__name__


def _sentence(text: str) -> str:
    return " ".join(text.split())
