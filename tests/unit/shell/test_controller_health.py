"""What the liveness probe reports (kopf's `/healthz` runs `Controller.health`)."""

from __future__ import annotations

import pytest

from modeldeploy.shell.controller import Unhealthy
from tests.fakeapi import FakeApiServer
from tests.unit.shell.harness import Replica


def test_a_running_controller_reports_its_watches_and_workers(server: FakeApiServer) -> None:
    replica = Replica(server, "replica-a").start()
    try:
        health = replica.controller.health()
        assert set(health["watches"].values()) == {"synced"}  # type: ignore[union-attr]
        assert health["workers"] == replica.settings.workers
    finally:
        replica.stop()


def test_a_standby_is_healthy_without_workers(server: FakeApiServer) -> None:
    leader = Replica(server, "replica-a", leader_elect=True).start()
    standby = Replica(server, "replica-b", leader_elect=True).start()
    try:
        server.wait_for(lambda: leader.leading, timeout=10)
        assert standby.controller.health()["workers"] == "standby"
    finally:
        standby.stop()
        leader.stop()


def test_a_watch_that_stopped_fails_the_probe(server: FakeApiServer) -> None:
    replica = Replica(server, "replica-a").start()
    try:
        stopped = replica.controller.informers[0]
        stopped.stop()

        # The watch notices it should stop when its request ends; ended again on each look,
        # since on a busy machine its request may open only after the first end.
        def ended() -> bool:
            server.end_watches()
            return not stopped.alive()

        server.wait_for(ended, timeout=30)
        with pytest.raises(Unhealthy, match=f"watches stopped: {stopped.kind}"):
            replica.controller.health()
    finally:
        replica.stop()


def test_a_worker_that_stopped_fails_the_probe(server: FakeApiServer) -> None:
    replica = Replica(server, "replica-a").start()
    try:
        replica.controller.queue.shut_down()  # every worker returns
        server.wait_for(lambda: not any(w.is_alive() for w in replica.controller._workers))
        with pytest.raises(Unhealthy, match="workers stopped"):
            replica.controller.health()
    finally:
        replica.stop()
