from typing import Any

from e2e.localcluster.node_agent.backoff import BackoffPolicy
from e2e.localcluster.node_agent.pod_lifecycle import (
    KillContainer,
    PodLifecycle,
    RunProbe,
    StartContainer,
)
from e2e.localcluster.node_agent.probes import ProbeKind, ProbeSpec, TcpSocket

ACTION = TcpSocket("127.10.0.1", 8080)


def pod(restart_policy: str = "Always", containers: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": f"c{i}", "image": "python:3.11"} for i in range(containers)],
            **spec,
        },
    }


def start(lc: PodLifecycle, now: float, probes: dict[ProbeKind, ProbeSpec] | None = None) -> None:
    actions = lc.actions(now)
    assert actions and all(isinstance(a, StartContainer) for a in actions)
    for action in actions:
        assert isinstance(action, StartContainer)
        lc.on_started(
            action.name, now, container_id=f"id-{now}", image_id="img", probes=probes or {}
        )


def test_starts_every_container_once() -> None:
    lc = PodLifecycle(pod(containers=2), BackoffPolicy(), 0)
    assert lc.actions(0) == [StartContainer("c0"), StartContainer("c1")]
    assert lc.actions(1) == []


def test_crash_loop_backs_off_and_counts_restarts() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(base_s=10), 0)
    start(lc, 0)
    record = lc.containers["c0"]
    lc.on_exited("c0", 3, 1)
    # The first restart is immediate.
    assert record.state == "terminated" and record.last_terminated is not None
    start(lc, 1)
    assert record.restart_count == 1
    lc.on_exited("c0", 3, 2)
    assert record.state == "waiting" and record.waiting_reason == "CrashLoopBackOff"
    assert record.waiting_message is not None and "back-off 10s" in record.waiting_message
    assert lc.actions(11.9) == []
    assert lc.next_wakeup(2) == 12
    start(lc, 12)
    assert record.restart_count == 2
    lc.on_exited("c0", 3, 13)
    assert record.next_start_at == 13 + 20
    assert record.last_terminated is not None
    assert (record.last_terminated.exit_code, record.last_terminated.reason) == (3, "Error")
    assert [e.reason for e in lc.drain_events()].count("BackOff") == 2


def test_long_runs_reset_the_back_off() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(base_s=10, cap_s=300), 0)
    start(lc, 0)
    lc.on_exited("c0", 1, 1)
    start(lc, 1)
    lc.on_exited("c0", 1, 2)
    start(lc, 12)
    lc.on_exited("c0", 1, 12 + 601)
    assert lc.containers["c0"].next_start_at == 12 + 601


def test_restart_policies() -> None:
    never = PodLifecycle(pod("Never"), BackoffPolicy(), 0)
    start(never, 0)
    never.on_exited("c0", 1, 1)
    assert never.finished() and never.actions(100) == []

    on_failure = PodLifecycle(pod("OnFailure"), BackoffPolicy(), 0)
    start(on_failure, 0)
    on_failure.on_exited("c0", 1, 1)
    assert not on_failure.finished()
    start(on_failure, 1)
    on_failure.on_exited("c0", 0, 2)
    assert on_failure.finished()
    assert on_failure.containers["c0"].terminated is not None
    assert on_failure.containers["c0"].terminated.reason == "Completed"


def test_start_failures_are_retried_with_pull_reasons() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(base_s=10), 0)
    lc.actions(0)
    lc.on_start_failed("c0", "ErrImagePull", "no mapping", 0)
    record = lc.containers["c0"]
    assert (record.state, record.waiting_reason) == ("waiting", "ErrImagePull")
    assert lc.actions(5) == []
    assert lc.actions(10) == [StartContainer("c0")]
    lc.on_start_failed("c0", "ErrImagePull", "no mapping", 10)
    assert record.waiting_reason == "ImagePullBackOff"
    assert record.restart_count == 0


def probes(**overrides: Any) -> dict[ProbeKind, ProbeSpec]:
    return {
        kind: ProbeSpec(kind=kind, action=ACTION, **overrides.get(kind.value, {}))
        for kind in (ProbeKind.STARTUP, ProbeKind.READINESS, ProbeKind.LIVENESS)
        if kind.value in overrides
    }


def run_probes(lc: PodLifecycle, now: float) -> list[RunProbe]:
    return [a for a in lc.actions(now) if isinstance(a, RunProbe)]


def test_startup_gates_readiness_and_liveness() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    start(lc, 0, probes(startup={"period_s": 1}, readiness={"period_s": 1}, liveness={}))
    record = lc.containers["c0"]
    assert not record.started and not record.ready
    runs = run_probes(lc, 0)
    assert [r.kind for r in runs] == [ProbeKind.STARTUP]
    lc.on_probe_result("c0", ProbeKind.STARTUP, runs[0].generation, True, 0.5)
    assert record.started and not record.ready
    runs = run_probes(lc, 0.5)
    assert {r.kind for r in runs} == {ProbeKind.READINESS, ProbeKind.LIVENESS}
    lc.on_probe_result("c0", ProbeKind.READINESS, runs[0].generation, True, 0.6)
    assert record.ready
    # Startup never runs again once it has passed.
    assert all(r.kind is not ProbeKind.STARTUP for r in run_probes(lc, 50))


def test_startup_failure_kills_the_container() -> None:
    lc = PodLifecycle(pod(terminationGracePeriodSeconds=7), BackoffPolicy(), 0)
    start(lc, 0, probes(startup={"failure_threshold": 2, "period_s": 1}))
    for now in (0, 1):
        (run,) = run_probes(lc, now)
        lc.on_probe_result("c0", ProbeKind.STARTUP, run.generation, False, now, "refused")
    kills = [a for a in lc.actions(1) if isinstance(a, KillContainer)]
    assert kills == [
        KillContainer("c0", 7.0, "Container c0 failed startup probe, will be restarted")
    ]
    assert run_probes(lc, 5) == []


def test_liveness_failure_kills_then_the_container_restarts() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    start(lc, 0, probes(liveness={"failure_threshold": 1}))
    (run,) = run_probes(lc, 0)
    lc.on_probe_result("c0", ProbeKind.LIVENESS, run.generation, False, 0, "timeout")
    assert any(isinstance(a, KillContainer) for a in lc.actions(0))
    lc.on_exited("c0", 143, 1)
    start(lc, 1, probes(liveness={"failure_threshold": 1}))
    assert lc.containers["c0"].restart_count == 1
    reasons = [e.reason for e in lc.drain_events()]
    assert "Unhealthy" in reasons and "Killing" in reasons


def test_readiness_follows_thresholds_and_stale_results_are_ignored() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    start(lc, 0, probes(readiness={"failure_threshold": 2}))
    (run,) = run_probes(lc, 0)
    lc.on_probe_result("c0", ProbeKind.READINESS, run.generation, True, 0)
    assert lc.containers["c0"].ready
    lc.on_probe_result("c0", ProbeKind.READINESS, run.generation - 1, False, 1)
    lc.on_probe_result("c0", ProbeKind.READINESS, run.generation, False, 1)
    assert lc.containers["c0"].ready
    lc.on_probe_result("c0", ProbeKind.READINESS, run.generation, False, 2)
    assert not lc.containers["c0"].ready


def test_no_readiness_probe_means_ready_when_running() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    start(lc, 0)
    assert lc.containers["c0"].ready and lc.containers["c0"].started


def test_termination_stops_restarts() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    start(lc, 0)
    assert lc.terminate() == ["c0"]
    lc.on_exited("c0", 143, 1)
    assert lc.actions(100) == [] and lc.finished()


def test_adopted_pod_keeps_its_restart_count() -> None:
    adopted = pod()
    adopted["status"] = {"containerStatuses": [{"name": "c0", "restartCount": 4, "state": {}}]}
    lc = PodLifecycle(adopted, BackoffPolicy(), 0)
    start(lc, 0)
    assert lc.containers["c0"].restart_count == 5
