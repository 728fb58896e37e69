"""The shell against an API server that keeps objects as the real one does: a spec changed
mid-ramp, a status write that loses to a newer object, a watch that expires while a child is
deleted, and a leader that dies between recording a decision and carrying it out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import GROUP, PLURAL, VERSION, parse_spec
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, Kubelet, Replica, model_deployment

NAME = "iris"
TIMEOUT = 20.0


class Cluster:
    def __init__(self, server: FakeApiServer, strategy: str = "canary") -> None:
        self.server = server
        self.strategy = strategy
        self.custom = client.CustomObjectsApi(api_client(server))

    def revision_of(self, version: str) -> str:
        spec = model_deployment(NAME, version, strategy=self.strategy)["spec"]
        return compute_revision(NAME, parse_spec(spec))

    def apply(self, version: str) -> None:
        body = model_deployment(NAME, version, strategy=self.strategy)
        if self.server.get("modeldeployments", NAME, NAMESPACE) is None:
            self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
        else:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, NAME, {"spec": body["spec"]}
            )

    def status(self) -> dict[str, Any]:
        found = self.server.get("modeldeployments", NAME, NAMESPACE) or {}
        return dict(found.get("status") or {})

    def deployment(self, version: str) -> dict[str, Any] | None:
        return self.server.get("deployments", f"{NAME}-{self.revision_of(version)}", NAMESPACE)

    def wait_phase(self, phase: str, version: str) -> dict[str, Any]:
        revision = self.revision_of(version)

        def reached() -> dict[str, Any] | None:
            status = self.status()
            track = status.get("canary") if status.get("canary") else status.get("stable")
            at = (track or {}).get("revision")
            return status if status.get("phase") == phase and at == revision else None

        return self.server.wait_for(reached, timeout=TIMEOUT)

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.server.objects("events", NAMESPACE) if e.get("reason") == reason]


@pytest.fixture(params=["canary"])
def cluster(request: pytest.FixtureRequest, server: FakeApiServer, kubelet: Kubelet) -> Cluster:
    return Cluster(server, request.param)


@pytest.fixture
def replica(server: FakeApiServer) -> Iterator[Replica]:
    running = Replica(server, "replica-a").start()
    yield running
    running.stop()


def ramping(cluster: Cluster) -> dict[str, Any]:
    """v1 serving, v2 held at its first step (25%: one of four pods) for an approval."""
    cluster.apply("v1")
    cluster.wait_phase("Ready", "v1")
    cluster.apply("v2")
    return cluster.wait_phase("AwaitingApproval", "v2")


# What marks a rollout as past the point the new revision must reach on its own.
REACHED = {"canary": "stepReadyAt", "blueGreen": "previewPassedAt"}


@pytest.mark.parametrize("cluster", ["canary", "blueGreen"], indirect=True)
def test_a_spec_changed_mid_ramp_starts_the_new_revision_from_scratch(
    cluster: Cluster, kubelet: Kubelet, replica: Replica
) -> None:
    reached_at = REACHED[cluster.strategy]
    held = ramping(cluster)
    assert held["rollout"][reached_at]

    kubelet.held.add(cluster.revision_of("v3"))  # v3's pods do not become Ready for now
    cluster.apply("v3")
    restarted = cluster.server.wait_for(
        lambda: (
            (s := cluster.status()).get("canary", {}).get("revision") == cluster.revision_of("v3")
            and s
        ),
        timeout=TIMEOUT,
    )
    # Nothing of v2's rollout is carried over: the API server merged the status patch, and the
    # patch removed what the new rollout does not carry. Had v2's mark survived, v3 would count
    # as having reached its step, or passed its preview, without a Ready pod.
    rollout = restarted["rollout"]
    assert rollout["revision"] == cluster.revision_of("v3")
    assert reached_at not in rollout and rollout["startedAt"] >= held["rollout"]["startedAt"]
    assert restarted["stable"]["revision"] == cluster.revision_of("v1")
    assert restarted["phase"] != "AwaitingApproval"
    cluster.server.wait_for(lambda: cluster.deployment("v2") is None, timeout=TIMEOUT)

    kubelet.held.clear()
    reached = cluster.wait_phase("AwaitingApproval", "v3")
    assert reached["rollout"][reached_at] >= rollout["startedAt"]
    assert cluster.deployment("v1") is not None and cluster.deployment("v3") is not None


def test_a_status_write_that_loses_to_a_newer_object_is_decided_again(
    cluster: Cluster, replica: Replica
) -> None:
    cluster.apply("v1")
    cluster.wait_phase("Ready", "v1")
    status_path = rf"/namespaces/{NAMESPACE}/{PLURAL}/{NAME}/status$"
    conflict = cluster.server.fail_next("PATCH", status_path, 409, "Conflict")
    cluster.server.clear_requests()

    cluster.apply("v2")
    cluster.wait_phase("AwaitingApproval", "v2")

    assert conflict.hits == 1
    requests = cluster.server.requests
    lost = next(i for i, r in enumerate(requests) if r.status == 409)
    recorded = next(
        i
        for i, r in enumerate(requests)
        if i > lost
        and r.method == "PATCH"
        and r.path.endswith("/status")
        and PLURAL in r.path
        and r.status == 200
    )
    canary = f"/deployments/{NAME}-{cluster.revision_of('v2')}"
    acted = [i for i, r in enumerate(requests) if r.method == "PATCH" and r.path.endswith(canary)]
    # The decision taken on the stale object was never carried out: the canary's Deployment
    # was applied only after a decision taken on the fresh object was recorded.
    assert acted and min(acted) > recorded
    # ... and the fresh object was read after the conflict, not waited for.
    assert any(
        r.method == "GET" and r.path.endswith(f"/{PLURAL}/{NAME}") for r in requests[lost:recorded]
    )


def test_a_child_deleted_while_its_watch_was_expiring_is_made_again(
    cluster: Cluster, replica: Replica
) -> None:
    ramping(cluster)
    canary = cluster.deployment("v2")
    assert canary is not None
    deployments = r"^/apis/apps/v1/deployments$"
    # The next listing fails once, so the watch is down for a moment after it expires ...
    listing = cluster.server.fail_next("GET", deployments, 500, watch=False)
    cluster.server.compact()
    assert cluster.server.end_watches(deployments, error=410) >= 1
    cluster.server.wait_for(lambda: listing.hits == 1, timeout=TIMEOUT)
    # ... and in that moment the canary's Deployment is deleted: no watch sees it go.
    assert cluster.server.delete("deployments", canary["metadata"]["name"], NAMESPACE)

    # The list that follows replaces the cache, so the operator notices and makes it again.
    remade = cluster.server.wait_for(
        lambda: (
            (d := cluster.deployment("v2")) is not None
            and d["metadata"]["uid"] != canary["metadata"]["uid"]
            and d
        ),
        timeout=TIMEOUT,
    )
    assert remade["spec"]["replicas"] == canary["spec"]["replicas"]
    cluster.wait_phase("AwaitingApproval", "v2")


def test_a_leader_that_dies_between_recording_and_acting_is_carried_out_by_the_next(
    server: FakeApiServer, cluster: Cluster
) -> None:
    first = Replica(server, "replica-a", leader_elect=True).start()
    second = Replica(server, "replica-b", leader_elect=True).start()
    try:
        server.wait_for(lambda: first.leading, timeout=TIMEOUT)
        cluster.apply("v1")
        cluster.wait_phase("Ready", "v1")

        actor = first.controller.reconciler.actor
        carry_out = actor.carry_out

        def die_before_v2(owner: Any, decision: Any, *rest: Any) -> None:
            if decision.canary_revision == cluster.revision_of("v2"):
                first.die()
                raise RuntimeError("the process was killed")
            carry_out(owner, decision, *rest)

        actor.carry_out = die_before_v2  # type: ignore[method-assign]
        cluster.apply("v2")
        # The first replica recorded the new rollout, then died before making its canary.
        recorded = server.wait_for(
            lambda: (
                (s := cluster.status()).get("rollout", {}).get("revision")
                == cluster.revision_of("v2")
                and s
            ),
            timeout=TIMEOUT,
        )
        assert recorded["rollout"]["step"] == 0
        assert cluster.deployment("v2") is None
        assert not second.leading

        # The standby takes the Lease once it expires, and carries out the same decision.
        server.wait_for(lambda: second.leading, timeout=TIMEOUT)
        server.wait_for(lambda: cluster.deployment("v2") is not None, timeout=TIMEOUT)
        cluster.wait_phase("AwaitingApproval", "v2")
        assert len(cluster.events("RolloutStarted")) == 1
        lease = server.get("leases", "modeldeploy-operator", NAMESPACE) or {}
        assert lease["spec"]["holderIdentity"] == "replica-b"
    finally:
        first.die()
        second.stop()
