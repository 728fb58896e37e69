"""pytest plugin: a session-scoped local cluster, and its logs in the report of a failed test.

Enable with `pytest_plugins = ["e2e.localcluster.pytest_plugin"]` in the top-level conftest.
A test dir can override `local_cluster_image_map` or `local_cluster_options` to change how
the cluster is started; LOCALCLUSTER_IMAGE_MAP names an image map without code, and
LOCALCLUSTER_NODE the kind of node (`kubelet`, the default, or `process`).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.localcluster.cluster import LocalCluster

IMAGE_MAP_ENV = "LOCALCLUSTER_IMAGE_MAP"
NODE_ENV = "LOCALCLUSTER_NODE"
_CLUSTER = pytest.StashKey[LocalCluster]()


@pytest.fixture(scope="session")
def local_cluster_image_map() -> Path | None:
    """The node agent's image map (None: the built-in one)."""
    configured = os.environ.get(IMAGE_MAP_ENV)
    return Path(configured) if configured else None


@pytest.fixture(scope="session")
def local_cluster_options() -> dict[str, Any]:
    """Keyword arguments for LocalCluster, e.g. {"backoff_base_s": 1.0}."""
    return {"node_kind": os.environ.get(NODE_ENV, "kubelet")}


@pytest.fixture(scope="session")
def local_cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    local_cluster_image_map: Path | None,
    local_cluster_options: dict[str, Any],
) -> Iterator[LocalCluster]:
    """A fresh cluster for the session, stopped (no process left) at its end."""
    state_dir = tmp_path_factory.mktemp("localcluster")
    cluster = LocalCluster(state_dir, local_cluster_image_map, **local_cluster_options)
    cluster.start()
    request.config.stash[_CLUSTER] = cluster
    try:
        yield cluster
    finally:
        del request.config.stash[_CLUSTER]
        cluster.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and "local_cluster" in getattr(item, "fixturenames", ()):
        cluster = item.config.stash.get(_CLUSTER, None)
        if cluster is not None:
            report.sections.append(
                (f"local cluster logs ({cluster.state.root})", cluster.component_logs())
            )
    return report
