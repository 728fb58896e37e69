from typing import Any

from e2e.localcluster.node_agent.backoff import BackoffPolicy
from e2e.localcluster.node_agent.pod_lifecycle import KillContainer, PodLifecycle, StartContainer
from e2e.localcluster.node_agent.pod_status import compute_status, pod_phase


def pod(restart_policy: str = "Always", sidecar: bool = False) -> dict[str, Any]:
    init: list[dict[str, Any]] = [{"name": "migrate", "image": "python:3.11"}]
    if sidecar:
        init.insert(0, {"name": "proxy", "image": "python:3.11", "restartPolicy": "Always"})
    return {
        "metadata": {"name": "p"},
        "spec": {
            "restartPolicy": restart_policy,
            "initContainers": init,
            "containers": [{"name": "app", "image": "python:3.11"}],
        },
    }


def started(lc: PodLifecycle, now: float) -> list[str]:
    names = [a.name for a in lc.actions(now) if isinstance(a, StartContainer)]
    for name in names:
        lc.on_started(name, now, container_id=name, image_id="i", probes={})
    return names


def status(lc: PodLifecycle) -> dict[str, Any]:
    return compute_status(
        {"metadata": {}, "spec": {}, "status": {}},
        lc.containers.values(),
        restart_policy=lc.restart_policy,
        pod_ip="127.10.0.1",
        host_ip="127.0.0.1",
        start_time=0,
        now=0,
    )


def conditions(body: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in body["conditions"]}


def test_init_containers_run_to_completion_before_the_others() -> None:
    lc = PodLifecycle(pod(), BackoffPolicy(), 0)
    assert started(lc, 0) == ["migrate"]
    body = status(lc)
    assert body["phase"] == "Pending"
    assert conditions(body)["Initialized"] == "False"
    assert body["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert [s["name"] for s in body["initContainerStatuses"]] == ["migrate"]
    lc.on_exited("migrate", 0, 1)
    assert started(lc, 1) == ["app"]
    body = status(lc)
    assert body["phase"] == "Running" and conditions(body)["Initialized"] == "True"
    assert body["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


def test_failed_init_is_retried_unless_the_pod_never_restarts() -> None:
    retried = PodLifecycle(pod("Always"), BackoffPolicy(base_s=5), 0)
    started(retried, 0)
    retried.on_exited("migrate", 1, 1)
    assert started(retried, 1) == ["migrate"]
    retried.on_exited("migrate", 1, 2)
    assert retried.actions(6) == [] and started(retried, 7) == ["migrate"]
    assert pod_phase("Always", retried.containers.values(), None) == "Pending"

    never = PodLifecycle(pod("Never"), BackoffPolicy(), 0)
    started(never, 0)
    never.on_exited("migrate", 1, 1)
    assert never.actions(100) == [] and never.finished()
    assert status(never)["phase"] == "Failed"


def test_sidecars_start_first_keep_running_and_stop_with_the_pod() -> None:
    lc = PodLifecycle(pod("OnFailure", sidecar=True), BackoffPolicy(), 0)
    assert started(lc, 0) == ["proxy"]
    assert started(lc, 0) == ["migrate"]
    lc.on_exited("migrate", 0, 1)
    assert started(lc, 1) == ["app"]
    assert conditions(status(lc))["Initialized"] == "True"
    lc.on_exited("app", 0, 2)
    assert lc.actions(2) == [
        KillContainer("proxy", 30.0, "Container proxy is a sidecar of a finished pod")
    ]
    lc.on_exited("proxy", 143, 3)
    assert lc.finished() and lc.actions(100) == []
    assert status(lc)["phase"] == "Succeeded"
