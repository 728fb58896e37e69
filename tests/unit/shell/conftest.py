from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import fake_api  # noqa: F401
from tests.unit.shell.harness import Kubelet, install_crds


@pytest.fixture
def server(fake_api: FakeApiServer) -> FakeApiServer:  # noqa: F811
    install_crds(fake_api)
    return fake_api


@pytest.fixture
def kubelet(server: FakeApiServer) -> Iterator[Kubelet]:
    running = Kubelet(server).start()
    yield running
    running.stop()
