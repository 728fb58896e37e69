"""Carrying out probe and hook actions against local processes."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from e2e.localcluster.node_agent.probes import Exec, HttpGet, ProbeAction, Sleep, TcpSocket

USER_AGENT = "kube-probe/1.37"
_MESSAGE_LIMIT = 1024


def _http(action: HttpGet, timeout_s: float) -> tuple[bool, str]:
    connection: http.client.HTTPConnection
    if action.scheme == "HTTPS":
        # The kubelet does not verify probe certificates either.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            action.host, action.port, timeout=timeout_s, context=context
        )
    else:
        connection = http.client.HTTPConnection(action.host, action.port, timeout=timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*", **dict(action.headers)}
    try:
        connection.request("GET", action.path, headers=headers)
        response = connection.getresponse()
        body = response.read(_MESSAGE_LIMIT).decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return False, f'Get "{_url(action)}": {_describe_error(exc)}'
    finally:
        connection.close()
    if 200 <= response.status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {response.status} {body}".strip()


def _url(action: HttpGet) -> str:
    return f"{action.scheme.lower()}://{action.host}:{action.port}{action.path}"


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    return str(exc) or type(exc).__name__


def _tcp(action: TcpSocket, timeout_s: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((action.host, action.port), timeout=timeout_s):
            return True, ""
    except OSError as exc:
        return False, f"dial tcp {action.host}:{action.port}: {_describe_error(exc)}"


def _exec(action: Exec, timeout_s: float, env: Mapping[str, str], cwd: Path) -> tuple[bool, str]:
    try:
        proc = subprocess.Popen(
            list(action.argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return False, f"exec {list(action.argv)}: {exc}"
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False, f"command {list(action.argv)} timed out after {timeout_s:g}s"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    text = output[-_MESSAGE_LIMIT:].decode(errors="replace").strip()
    if proc.returncode == 0:
        return True, text
    return False, f"command {list(action.argv)} exited with {proc.returncode}: {text}".strip()


def run_action(
    action: ProbeAction,
    timeout_s: float,
    *,
    env: Mapping[str, str],
    cwd: Path,
) -> tuple[bool, str]:
    """(success, message) of one probe or hook execution."""
    if isinstance(action, HttpGet):
        return _http(action, timeout_s)
    if isinstance(action, TcpSocket):
        return _tcp(action, timeout_s)
    if isinstance(action, Exec):
        return _exec(action, timeout_s, env, cwd)
    if isinstance(action, Sleep):
        time.sleep(min(action.seconds, timeout_s))
        return True, ""
    raise TypeError(f"unknown action {action!r}")
