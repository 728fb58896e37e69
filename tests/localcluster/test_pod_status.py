from typing import Any

import pytest

from e2e.localcluster.node_agent.pod_lifecycle import ContainerRecord, Terminated
from e2e.localcluster.node_agent.pod_status import compute_status, pod_phase, rfc3339

T0 = 1_800_000_000.0


def running(name: str = "c", ready: bool = True) -> ContainerRecord:
    return ContainerRecord(
        name=name,
        image="python:3.11",
        state="running",
        started_at=T0,
        ready=ready,
        started=True,
        container_id="localprocess://1",
        image_id="img",
    )


def terminated(code: int, name: str = "c") -> ContainerRecord:
    info = Terminated(exit_code=code, reason="Error" if code else "Completed", finished_at=T0)
    return ContainerRecord(name=name, image="i", state="terminated", terminated=info)


def backing_off(code: int = 1) -> ContainerRecord:
    info = Terminated(exit_code=code, reason="Error", finished_at=T0)
    return ContainerRecord(
        name="c", image="i", waiting_reason="CrashLoopBackOff", last_terminated=info
    )


@pytest.mark.parametrize(
    ("policy", "records", "phase"),
    [
        ("Always", [ContainerRecord(name="c", image="i")], "Pending"),
        ("Always", [running(), ContainerRecord(name="d", image="i")], "Pending"),
        ("Always", [running()], "Running"),
        ("Always", [backing_off()], "Running"),
        ("Never", [terminated(0)], "Succeeded"),
        ("Never", [terminated(0), terminated(1, "d")], "Failed"),
        ("OnFailure", [terminated(0)], "Succeeded"),
        ("OnFailure", [backing_off()], "Running"),
        ("Never", [running(), terminated(1, "d")], "Running"),
    ],
)
def test_phase(policy: str, records: list[ContainerRecord], phase: str) -> None:
    assert pod_phase(policy, records, None) == phase


def test_terminal_phase_sticks() -> None:
    assert pod_phase("Always", [running()], "Succeeded") == "Succeeded"


def _pod(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "generation": 1},
        "spec": {"containers": [{"name": "c"}]},
        "status": status or {},
    }


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_status_of_a_ready_pod() -> None:
    status = compute_status(
        _pod(),
        [running()],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0 + 5,
    )
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.10.0.1" and status["podIPs"] == [{"ip": "127.10.0.1"}]
    assert status["hostIP"] == "127.0.0.1" and status["startTime"] == rfc3339(T0)
    conds = conditions(status)
    assert {t: c["status"] for t, c in conds.items()} == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "ContainersReady": "True",
        "Ready": "True",
    }
    assert conds["Ready"]["reason"] is None
    (container,) = status["containerStatuses"]
    assert container["ready"] and container["started"]
    assert container["state"] == {"running": {"startedAt": rfc3339(T0)}}
    assert container["containerID"] == "localprocess://1" and container["lastState"] == {}


def test_transition_times_move_only_on_change() -> None:
    first = compute_status(
        _pod(),
        [running(ready=False)],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0,
    )
    assert conditions(first)["Ready"]["status"] == "False"
    assert conditions(first)["Ready"]["reason"] == "ContainersNotReady"
    second = compute_status(
        _pod(first),
        [running(ready=False)],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0 + 10,
    )
    assert conditions(second)["Ready"]["lastTransitionTime"] == rfc3339(T0)
    third = compute_status(
        _pod(second),
        [running(ready=True)],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0 + 20,
    )
    assert conditions(third)["Ready"]["lastTransitionTime"] == rfc3339(T0 + 20)
    assert conditions(third)["Initialized"]["lastTransitionTime"] == rfc3339(T0)


def test_readiness_gates_hold_ready_back() -> None:
    pod = _pod({"conditions": [{"type": "example.com/gate", "status": "False"}]})
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}]
    status = compute_status(
        pod,
        [running()],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0,
    )
    conds = conditions(status)
    assert conds["ContainersReady"]["status"] == "True"
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert "example.com/gate" not in conds


def test_crash_loop_status() -> None:
    record = backing_off(3)
    record.restart_count = 2
    record.waiting_message = "back-off 20s restarting failed container=c pod=p"
    status = compute_status(
        _pod(),
        [record],
        restart_policy="Always",
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=T0,
        now=T0,
    )
    (container,) = status["containerStatuses"]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["lastState"]["terminated"]["exitCode"] == 3
    assert container["restartCount"] == 2 and not container["ready"]
