"""What an Event says when the API server refuses a write: the server's own message."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from modeldeploy.shell.reconcile.record import api_message


def refused(status: int, reason: str, body: str | None) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = body
    return error


def test_the_server_s_message_is_used() -> None:
    body = json.dumps({"kind": "Status", "message": 'services "x" is forbidden: exceeded quota'})
    assert api_message(refused(403, "Forbidden", body)) == (
        'services "x" is forbidden: exceeded quota'
    )


def test_without_a_message_the_status_line_is_used() -> None:
    assert api_message(refused(500, "Internal Server Error", None)) == "500 Internal Server Error"
    assert api_message(refused(502, "Bad Gateway", "<html>")) == "502 Bad Gateway"
    assert api_message(refused(500, "Oops", "[1, 2]")) == "500 Oops"
