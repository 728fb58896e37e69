"""pytest fixtures: a running server per test, and a `kubernetes` client pointed at it.

Import them into a conftest.py (`from tests.fakeapi.fixtures import fake_api, ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from .server import FakeApiServer


def client_configuration(server: FakeApiServer) -> Any:
    """A kubernetes.client.Configuration for the server (plain HTTP, no credentials)."""
    configuration = client.Configuration(host=server.url, no_proxy="127.0.0.1,localhost")
    configuration.proxy = None
    return configuration


def api_client(server: FakeApiServer) -> Any:
    return client.ApiClient(client_configuration(server))


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def fake_api_client(fake_api: FakeApiServer) -> Iterator[Any]:
    """A kubernetes.client.ApiClient talking to `fake_api`."""
    with api_client(fake_api) as opened:
        yield opened
