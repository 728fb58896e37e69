"""pytest plugin: a session-scoped local cluster, and its logs in the report of a failed test.

Enable with `pytest_plugins = ["e2e.localcluster.pytest_plugin"]` in the top-level conftest.
A test dir can override `local_cluster_options` to change how the cluster is started.

With `MODELDEPLOY_LOCAL_CLUSTER` naming the state dir of a cluster `python -m e2e.localcluster
up` started, the session attaches to that cluster instead and leaves it running at its end: so
several pytest processes (xdist's workers, or runs one after another) share one cluster.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from e2e.localcluster.cluster import LocalCluster

_CLUSTER = pytest.StashKey[LocalCluster]()
SHARED_CLUSTER_ENV = "MODELDEPLOY_LOCAL_CLUSTER"


@pytest.fixture(scope="session")
def local_cluster_options() -> dict[str, Any]:
    """Keyword arguments for LocalCluster, e.g. {"scrape_interval": "5s"}."""
    return {}


@pytest.fixture(scope="session")
def local_cluster(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    local_cluster_options: dict[str, Any],
) -> Iterator[LocalCluster]:
    """A fresh cluster for the session, stopped (no process left) at its end; or the shared
    one `MODELDEPLOY_LOCAL_CLUSTER` names, left running."""
    shared = os.environ.get(SHARED_CLUSTER_ENV)
    if shared:
        attached = LocalCluster.attach(Path(shared))
        request.config.stash[_CLUSTER] = attached
        yield attached
        return
    state_dir = tmp_path_factory.mktemp("localcluster")
    # A run stopped with SIGTERM (a CI time-out, say) unwinds like Ctrl-C, so that the cluster
    # is stopped and leaves no namespace, mount or cgroup behind.
    signal.signal(signal.SIGTERM, _interrupt)
    cluster = LocalCluster(state_dir, **local_cluster_options)
    cluster.start()
    request.config.stash[_CLUSTER] = cluster
    try:
        yield cluster
    finally:
        del request.config.stash[_CLUSTER]
        cluster.stop()


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


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
