"""The process node agent's own tests run on a cluster whose node is that agent."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def local_cluster_options() -> dict[str, Any]:
    return {"node_kind": "process"}
