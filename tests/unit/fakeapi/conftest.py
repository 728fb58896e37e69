from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import fake_api, fake_api_client  # noqa: F401
from tests.unit.fakeapi.support import MODEL, POLICY


@pytest.fixture
def server(fake_api: FakeApiServer) -> FakeApiServer:  # noqa: F811
    """The fake server with the operator's custom resource types registered."""
    fake_api.register(MODEL, POLICY)
    return fake_api


@pytest.fixture
def core(server: FakeApiServer, fake_api_client: Any) -> Any:  # noqa: F811
    return client.CoreV1Api(fake_api_client)


@pytest.fixture
def apps(server: FakeApiServer, fake_api_client: Any) -> Any:  # noqa: F811
    return client.AppsV1Api(fake_api_client)


@pytest.fixture
def custom(server: FakeApiServer, fake_api_client: Any) -> Any:  # noqa: F811
    return client.CustomObjectsApi(fake_api_client)


@pytest.fixture
def leases(server: FakeApiServer, fake_api_client: Any) -> Any:  # noqa: F811
    return client.CoordinationV1Api(fake_api_client)
