"""Deploy, steady state and replacement decisions of `rollout.decide`."""

from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy.api.conditions import find_condition
from modeldeploy.api.observed import Observed, ObservedDeployment
from modeldeploy.api.spec import parse_spec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import decide

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def spec(version: str = "v1", replicas: int = 2) -> Any:
    return parse_spec(
        {
            "model": {"name": "m", "version": version, "uri": "file:///m", "format": "sklearn"},
            "replicas": replicas,
        }
    )


def world(**ready: tuple[int, int]) -> Observed:
    return Observed(
        deployments={
            rev: ObservedDeployment(f"m-{rev}", rev, replicas, ready_count, ready_count)
            for rev, (replicas, ready_count) in ready.items()
        }
    )


def test_first_deploy_is_progressing_until_ready() -> None:
    decision = decide("m", spec(), "r1", ModelDeploymentStatus(), world(), NOW, 1)
    assert decision.replicas == {"r1": 2}
    assert decision.status.phase == "Progressing"
    assert decision.status.stable is None
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "False"

    decision = decide("m", spec(), "r1", decision.status, world(r1=(2, 2)), NOW, 1)
    assert decision.status.phase == "Ready"
    assert decision.status.stable.revision == "r1"
    assert decision.status.ready == "2/2"
    assert [e.reason for e in decision.events] == ["Deployed"]


def test_steady_state_is_idempotent() -> None:
    first = decide("m", spec(), "r1", ModelDeploymentStatus(), world(r1=(2, 2)), NOW, 1)
    second = decide(
        "m", spec(), "r1", first.status, world(r1=(2, 2)), NOW + timedelta(minutes=1), 1
    )
    assert second.status == first.status
    assert second.replicas == {"r1": 2}
    assert second.events == []


def test_scale_change_scales_the_stable_revision() -> None:
    ready = decide("m", spec(), "r1", ModelDeploymentStatus(), world(r1=(2, 2)), NOW, 1)
    scaled = decide("m", spec(replicas=5), "r1", ready.status, world(r1=(2, 2)), NOW, 2)
    assert scaled.replicas == {"r1": 5}
    assert scaled.status.phase == "Progressing"  # 2 of 5 ready until the new pods come up
    assert scaled.status.observed_generation == 2
    late = NOW + timedelta(minutes=11)
    stuck = decide("m", spec(replicas=5), "r1", scaled.status, world(r1=(5, 2)), late, 2)
    assert stuck.status.phase == "Degraded"
    done = decide("m", spec(replicas=5), "r1", stuck.status, world(r1=(5, 5)), late, 2)
    assert done.status.phase == "Ready"


def test_lost_stable_deployment_is_recreated() -> None:
    ready = decide("m", spec(), "r1", ModelDeploymentStatus(), world(r1=(2, 2)), NOW, 1)
    rebuilt = decide("m", spec(), "r1", ready.status, world(), NOW, 1)
    assert rebuilt.replicas == {"r1": 2}
    assert rebuilt.status.stable.revision == "r1"
    assert rebuilt.status.phase == "Progressing"


def test_new_revision_replaces_stable_once_ready_and_keeps_old_for_a_while() -> None:
    ready = decide("m", spec(), "r1", ModelDeploymentStatus(), world(r1=(2, 2)), NOW, 1)
    starting = decide("m", spec("v2"), "r2", ready.status, world(r1=(2, 2)), NOW, 2)
    assert starting.replicas == {"r1": 2, "r2": 2}
    assert starting.status.stable.revision == "r1"
    assert starting.status.canary.revision == "r2"
    assert starting.status.phase == "Progressing"
    assert starting.weight == 0

    swapped = decide("m", spec("v2"), "r2", starting.status, world(r1=(2, 2), r2=(2, 2)), NOW, 2)
    assert swapped.status.stable.revision == "r2"
    assert swapped.status.previous.revision == "r1"
    assert swapped.replicas == {"r2": 2, "r1": 2}
    assert swapped.status.phase == "Ready"

    later = NOW + timedelta(seconds=31)
    cooled = decide("m", spec("v2"), "r2", swapped.status, world(r1=(2, 2), r2=(2, 2)), later, 2)
    assert cooled.replicas == {"r2": 2, "r1": 0}
