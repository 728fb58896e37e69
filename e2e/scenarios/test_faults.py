"""Rollouts under faults: the control plane restarted, Prometheus restarted, the operator killed
again and again, the node's agent restarted, people editing the children mid-ramp.

Each scenario ends with the right final state, no step skipped or repeated, no status lost,
and clients never served by a failing candidate for longer than `interval + 5 s`. With
`MODELDEPLOY_FAULT_REPORT` set, each appends what it saw to that file (`make bench-faults`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e.fixtures import Cluster, OperatorProcess, apply_model_deployment, wait_for
from e2e.in_cluster import InClusterOperator
from e2e.localcluster import LocalCluster
from e2e.localcluster.prometheus import PROMETHEUS_NAMESPACE
from e2e.localcluster.traffic import BodyFactory, RequestRecord, describe_failures
from e2e.models import TrainedModel, traffic_rows, train_classifier, train_failing_on_negatives
from e2e.recorder import StatusRecorder
from e2e.rollouts import (
    RolloutOptions,
    client_traffic,
    deploy_stable,
    events_with_reason,
    infer_bodies,
    model_deployment,
    status_of,
    train_and_store,
    wait_new_revision,
)
from modeldeploy.tools import cli

pytestmark = pytest.mark.cluster

NAME = "steady"
INTERVAL_S = 4
STEPS: list[dict[str, Any]] = [{"weight": 25}, {"weight": 50}, {"weight": 75}]
# Ten kills in a rollout of three steps.
KILLS_PER_STEP = (4, 3, 3)


@dataclass
class FaultResult:
    name: str
    ok: bool
    client_requests_failed: int
    max_bad_exposure_s: float
    notes: str


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Iterator[list[FaultResult]]:
    found: list[FaultResult] = []
    yield found
    path = os.environ.get("MODELDEPLOY_FAULT_REPORT")
    if path and found:
        with Path(path).open("a") as report:
            for result in found:
                report.write(json.dumps(asdict(result)) + "\n")


@pytest.fixture(scope="module")
def models(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, TrainedModel]:
    base = tmp_path_factory.mktemp("models")
    return train_and_store(
        cluster,
        NAME,
        base,
        {
            "v1": (train_classifier, 1),
            "v2": (train_classifier, 2),
            "bad": (train_failing_on_negatives, 3),
        },
    )


@pytest.fixture
def local(request: pytest.FixtureRequest) -> LocalCluster:
    if os.environ.get("MODELDEPLOY_E2E_KIND"):
        pytest.skip("the kind harness has no handle on its control plane's processes")
    found: LocalCluster = request.getfixturevalue("local_cluster")
    return found


def tolerant(probe: Callable[[], Any]) -> Callable[[], Any]:
    """A probe that reads through the API server: while it restarts, no answer is no news."""

    def call() -> Any:
        try:
            return probe()
        except Exception:
            return None

    return call


def settled(cluster: Cluster, namespace: str, revision: str) -> Callable[[], Any]:
    def probe() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        if (status.get("stable") or {}).get("revision") == revision:
            return status
        if (status.get("rolledBack") or {}).get("revision") == revision:
            return status
        return None

    return tolerant(probe)


def step_reached(cluster: Cluster, namespace: str, step: int) -> Callable[[], Any]:
    def probe() -> dict[str, Any] | None:
        status = status_of(cluster, namespace, NAME)
        state = status.get("rollout") or {}
        return status if state.get("step") == step and state.get("stepReadyAt") else None

    return tolerant(probe)


def status_fingerprint(cluster: Cluster, namespace: str) -> str | None:
    """What of the status moves as the rollout does; None while it cannot be read."""
    status = tolerant(lambda: status_of(cluster, namespace, NAME))()
    if status is None:
        return None
    kept = {k: status.get(k) for k in ("phase", "weight", "rollout", "checks")}
    return json.dumps(kept, sort_keys=True)


def bad_exposure_s(records: list[RequestRecord], revision: str) -> float:
    """From the first client request a pod of `revision` failed (an error answer, or a
    connection its dying process dropped) to the last client request sent to any of its pods:
    how long clients were exposed to a failing candidate.

    Clients send to the Service, so a request that got no answer names no pod: it is counted
    as the candidate's, which can only make the exposure look longer than it was."""
    sent = [r for r in records if r.backend == revision or (r.backend is None and not r.ok)]
    failed = [r for r in sent if not r.ok]
    if not failed:
        return 0.0
    return round(max(r.started_at for r in sent) - min(r.started_at for r in failed), 2)


class Rollout:
    """One rollout of `model` under client traffic, with the status recorded throughout."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        models: dict[str, TrainedModel],
        options: RolloutOptions,
    ) -> None:
        self.cluster, self.namespace, self.options = cluster, namespace, options
        self.models = models
        self.stable = deploy_stable(cluster, namespace, NAME, models["v1"], options)
        self.candidate = ""
        self.outcome: dict[str, Any] = {}
        # (time.time(), what) of the faults a scenario struck, for the message of a failure.
        self.marks: list[tuple[float, str]] = []

    def mark(self, what: str) -> None:
        self.marks.append((time.time(), what))

    def run(
        self,
        model: str,
        during: Callable[[Rollout], None],
        timeout: float = 400,
        body: BodyFactory | None = None,
    ) -> None:
        cluster, namespace = self.cluster, self.namespace
        with (
            client_traffic(cluster, namespace, NAME, duration_s=900, body=body) as self.traffic,
            StatusRecorder(cluster, namespace, NAME) as self.recorder,
        ):
            apply_model_deployment(
                cluster, namespace, model_deployment(NAME, self.models[model], "v2", self.options)
            )
            self.candidate = wait_new_revision(cluster, namespace, NAME, self.stable)
            during(self)
            self.outcome = wait_for(
                settled(cluster, namespace, self.candidate), timeout, "promoted or rolled back"
            )
            self.recorder.wait_settled()

    @property
    def records(self) -> list[RequestRecord]:
        return self.traffic.records()

    def failed_requests(self) -> int:
        return sum(1 for r in self.records if not r.ok)

    def promoted_every_step(self, weights: bool = True) -> list[str]:
        """What is wrong with a rollout that should have promoted, step by step; empty if
        nothing is."""
        wrong = []
        if (self.outcome.get("stable") or {}).get("revision") != self.candidate:
            wrong.append(f"not promoted: {self.outcome.get('rolledBack')}")
        if self.recorder.steps() != [0, 1, 2]:
            wrong.append(f"steps {self.recorder.steps()}")
        if weights and self.recorder.weights() != [0, 25, 50, 75, 0]:
            wrong.append(f"weights {self.recorder.weights()}")
        outcomes = [h["outcome"] for h in self.outcome.get("history") or []]
        if outcomes[:2] != ["Promoted", "Deployed"]:
            wrong.append(f"history {outcomes}")
        return wrong


def report(
    results: list[FaultResult], name: str, rollout: Rollout, wrong: list[str], notes: str
) -> None:
    results.append(
        FaultResult(
            name=name,
            ok=not wrong,
            client_requests_failed=rollout.failed_requests(),
            max_bad_exposure_s=bad_exposure_s(rollout.records, rollout.candidate),
            notes="; ".join([notes, *wrong]),
        )
    )
    since = min((r.started_at for r in rollout.records), default=0.0)
    marks = ", ".join(f"{at - since:.2f}s {what}" for at, what in rollout.marks)
    assert not wrong, (
        f"{wrong}\n{rollout.recorder.describe()}\nfailed requests:\n"
        f"{describe_failures(rollout.records)}\n"
        f"phase/weight/step: {rollout.recorder.transitions(since)}\nfaults: {marks}"
    )


def promote(cluster: Cluster, namespace: str) -> None:
    """One step on, as a person moves a held step on with the kubectl plugin."""
    argv = ["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, "promote", NAME]
    assert cli.main(argv) == 0


def options() -> RolloutOptions:
    return RolloutOptions(steps=STEPS, interval=f"{INTERVAL_S}s")


@pytest.mark.disruptive
@pytest.mark.parametrize(
    "components",
    [("kube-apiserver",), ("etcd",), ("etcd", "kube-apiserver")],
    ids=["apiserver", "etcd", "both"],
)
def test_the_control_plane_restarted_mid_step(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
    components: tuple[str, ...],
) -> None:
    rollout = Rollout(cluster, namespace, models, options())

    def restart(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        this.mark("stopping")
        for component in components:
            local.stop_component(component, kill=True)
        this.mark("starting")
        for component in reversed(components):
            local.start_component(component)
        wait_for(tolerant(lambda: cluster.get_json("/version")), 120, "the API server answers")
        this.mark("the API server answers")

    rollout.run("v2", restart)
    # The data path does not go through the control plane: clients notice nothing.
    failed = rollout.failed_requests()
    wrong = rollout.promoted_every_step() + ([f"{failed} client requests failed"] if failed else [])
    report(fault_report, f"{'+'.join(components)} restarted mid-step", rollout, wrong, "")


@pytest.mark.disruptive
def test_prometheus_restarted_mid_step(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    fault_report: list[FaultResult],
) -> None:
    rollout = Rollout(cluster, namespace, models, options())

    def restart(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        cluster.prometheus.stop()
        cluster.prometheus.start()
        cluster.prometheus.wait_ready(120)

    rollout.run("v2", restart)
    report(
        fault_report, "Prometheus restarted mid-step", rollout, rollout.promoted_every_step(), ""
    )


@pytest.mark.kills_operator
def test_the_operator_killed_ten_times_in_one_rollout(
    cluster: Cluster,
    operator: InClusterOperator,
    namespace: str,
    models: dict[str, TrainedModel],
    fault_report: list[FaultResult],
) -> None:
    """SIGKILL to the leading replica at ten moments of the rollout, each right after the
    status changed or a check interval after the last kill: the standby takes over, at the
    same step. Each step holds until a person promotes it once its kills are done, so the
    rollout lasts as long as the kills take, however long a takeover takes."""
    held = RolloutOptions(
        steps=[{**step, "pause": "1h"} for step in STEPS], interval=f"{INTERVAL_S}s"
    )
    rollout = Rollout(cluster, namespace, models, held)
    kills: list[str] = []

    def kill_ten_times(this: Rollout) -> None:
        over = settled(cluster, namespace, this.candidate)
        for step, count in enumerate(KILLS_PER_STEP):
            wait_for(step_reached(cluster, namespace, step), 180, f"step {step + 1} reached")
            for _ in range(count):
                before = status_fingerprint(cluster, namespace)

                # The next moment: the status moved, or one check interval passed without it.
                def moved(then: str | None = before) -> bool:
                    return status_fingerprint(cluster, namespace) != then or bool(over())

                with contextlib.suppress(AssertionError):
                    wait_for(moved, INTERVAL_S, "the status moved", interval=0.2)
                if over():
                    return
                with operator.alone():
                    kills.append(operator.kill_leader())
                    this.mark(f"kill {len(kills)} at step {step + 1}")
                    wait_for(operator.leader_pod, 90, "a replica leads again", interval=0.2)
            # Whoever leads now takes the promote; the next kill follows the step's change.
            promote(cluster, namespace)
            this.mark(f"promoted step {step + 1}")

    rollout.run("v2", kill_ten_times, timeout=600)
    wrong = rollout.promoted_every_step()
    failed = rollout.failed_requests()
    if failed:
        wrong.append(f"{failed} client requests failed")
    notes = f"{len(kills)} kills before the outcome"
    if len(kills) < 10:
        wrong.append(f"only {len(kills)} kills before the rollout ended")
    name = "operator killed 10 times, rollout that promotes"
    report(fault_report, name, rollout, wrong, notes)


@pytest.mark.disruptive
def test_the_node_agent_restarted_mid_step(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
) -> None:
    rollout = Rollout(cluster, namespace, models, options())

    def restart(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        local.restart_component("kubelet", kill=True)

    rollout.run("v2", restart)
    failed = rollout.failed_requests()
    wrong = rollout.promoted_every_step() + ([f"{failed} client requests failed"] if failed else [])
    report(fault_report, "kubelet restarted mid-step", rollout, wrong, "")


def test_people_editing_the_children_mid_ramp_are_overruled(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    fault_report: list[FaultResult],
) -> None:
    """The canary scaled by hand, the client Service's selector changed, the canary's
    Deployment deleted: the operator takes back its intent each time and the ramp goes on."""
    rollout = Rollout(cluster, namespace, models, options())
    restored: list[str] = []

    def edit(this: Rollout) -> None:
        deployment = f"{NAME}-{this.candidate}"
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        cluster.apps.patch_namespaced_deployment_scale(
            deployment, namespace, {"spec": {"replicas": 4}}
        )
        wait_for(
            lambda: (
                cluster.apps.read_namespaced_deployment(deployment, namespace).spec.replicas == 2
            ),
            30,
            "the canary's size taken back",
        )
        restored.append("canary size")
        cluster.core.patch_namespaced_service(
            NAME, namespace, {"spec": {"selector": {"modeldeploy.io/name": "someone-else"}}}
        )

        def selects_the_model() -> bool:
            service: Any = cluster.core.read_namespaced_service(NAME, namespace)
            return bool(service.spec.selector.get("modeldeploy.io/name") == NAME)

        wait_for(
            selects_the_model,
            30,
            "the client Service's selector taken back",
        )
        restored.append("client selector")
        cluster.apps.delete_namespaced_deployment(deployment, namespace)
        wait_for(
            tolerant(lambda: cluster.apps.read_namespaced_deployment(deployment, namespace)),
            30,
            "the canary's Deployment made again",
        )
        restored.append("canary Deployment")

    rollout.run("v2", edit)
    # While its Deployment is made again the canary has no ready pod and gets no weight; the
    # step is held, never skipped or repeated.
    wrong = rollout.promoted_every_step(weights=False)
    report(
        fault_report,
        "people editing children mid-ramp",
        rollout,
        wrong,
        f"restored: {', '.join(restored)}"
        + (
            f"; {rollout.failed_requests()} client requests failed while the client Service "
            "selected no pod"
            if rollout.failed_requests()
            else ""
        ),
    )


def running_container(cluster: Cluster, namespace: str, pod: str) -> str | None:
    """The id of the pod's first container while it runs; None while it is dead or waiting."""
    try:
        found: Any = cluster.core.read_namespaced_pod(pod, namespace)
    except Exception:
        return None
    for status in found.status.container_statuses or []:
        if status.state and status.state.running and status.container_id:
            return str(status.container_id)
    return None


def pods_of(cluster: Cluster, namespace: str, revision: str) -> list[str]:
    listed: Any = cluster.core.list_namespaced_pod(
        namespace, label_selector=f"modeldeploy.io/revision={revision}"
    )
    return [p.metadata.name for p in listed.items if not p.metadata.deletion_timestamp]


@pytest.mark.disruptive
def test_prometheus_slower_than_the_query_timeout(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
) -> None:
    """Prometheus frozen mid-step: it takes the operator's queries and answers none of them.
    The checks are inconclusive, the step holds, and the ramp goes on once it answers again."""
    rollout = Rollout(cluster, namespace, models, options())
    timed_out: list[str] = []

    def freeze(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        listed: Any = cluster.core.list_namespaced_pod(PROMETHEUS_NAMESPACE)
        pod = next(p.metadata.name for p in listed.items if p.status.phase == "Running")
        container = wait_for(
            lambda: running_container(cluster, PROMETHEUS_NAMESPACE, pod), 30, "Prometheus runs"
        )
        local.freeze_container(container)
        try:

            def a_check_timed_out() -> str | None:
                held = tolerant(
                    lambda: events_with_reason(cluster, namespace, NAME, "CheckInconclusive")
                )()
                for event in held or []:
                    if "did not answer within" in (event.get("message") or ""):
                        return str(event["message"])
                return None

            timed_out.append(wait_for(a_check_timed_out, 60, "a check timed out", interval=0.2))
        finally:
            local.thaw_container(container)

    rollout.run("v2", freeze)
    failed = rollout.failed_requests()
    wrong = rollout.promoted_every_step() + ([f"{failed} client requests failed"] if failed else [])
    report(
        fault_report,
        "Prometheus slower than the query timeout",
        rollout,
        wrong,
        f"held on: {timed_out[0] if timed_out else 'no timed-out check seen'}",
    )


@pytest.mark.disruptive
def test_the_operator_cut_off_from_the_api_server(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
) -> None:
    """The leader's packets to the API server dropped (its connections hang, nothing refuses
    them) for longer than a check interval: it stops acting before its Lease lapses, the
    standby takes over at the same step, and the cut-off replica stands by once let back."""
    rollout = Rollout(cluster, namespace, models, options())
    apiserver: Any = cluster.core.read_namespaced_service("kubernetes", "default")
    blocked = [
        ["-p", "tcp", "-d", str(apiserver.spec.cluster_ip), "--dport", "443"],
        ["-p", "tcp", "--dport", "6443"],
    ]
    taken_over: list[str] = []

    def cut(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        leader = wait_for(operator.leader_pod, 60, "a replica leads")
        ns = operator.namespace

        def in_its_network(*argv: str) -> None:
            container = wait_for(
                lambda: running_container(cluster, ns, leader), 60, "the replica runs"
            )
            local.in_pod_network(container, *argv)

        for rule in blocked:
            in_its_network("iptables", "-I", "OUTPUT", *rule, "-j", "DROP")
        cut_at = time.monotonic()
        try:

            def another_leads() -> str | None:
                now = operator.leader_pod()
                return now if now not in (None, leader) else None

            new = wait_for(another_leads, 90, "the standby leads", interval=0.2)
            taken_over.append(f"{new} led {time.monotonic() - cut_at:.1f} s after the cut")
            # Cut off for longer than a check interval past the takeover as well.
            wait_for(
                lambda: time.monotonic() - cut_at > 3 * INTERVAL_S or None,
                60,
                "three check intervals",
                interval=0.2,
            )
        finally:
            for rule in blocked:
                in_its_network("iptables", "-D", "OUTPUT", *rule, "-j", "DROP")

    rollout.run("v2", cut)
    failed = rollout.failed_requests()
    wrong = rollout.promoted_every_step() + ([f"{failed} client requests failed"] if failed else [])
    if not taken_over:
        wrong.append("no standby took over")
    report(
        fault_report,
        "operator cut off from the API server",
        rollout,
        wrong,
        taken_over[0] if taken_over else "",
    )


def test_a_crash_looping_candidate_is_rolled_back(
    cluster: Cluster,
    operator: OperatorProcess,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
) -> None:
    """A serving pod of the candidate killed each time it runs, mid-step, as a model that runs
    out of memory would be: rolled back at its first crash, and the reason names the pod."""
    rollout = Rollout(cluster, namespace, models, options())
    kills: list[str] = []

    def crash_loop(this: Rollout) -> None:
        wait_for(step_reached(cluster, namespace, 1), 180, "step 2 reached")
        over = settled(cluster, namespace, this.candidate)
        pod = pods_of(cluster, namespace, this.candidate)[0]
        while not over():

            def runs_again() -> str | None:
                if over():
                    return "over"
                return running_container(cluster, namespace, pod)

            container = wait_for(runs_again, 60, "the candidate's pod runs", interval=0.2)
            if container == "over":
                break
            with contextlib.suppress(RuntimeError):  # it may have died on its own meanwhile
                local.kill_container(container)
                kills.append(container)

    rollout.run("v2", crash_loop)
    rolled_back = rollout.outcome.get("rolledBack") or {}
    wrong = []
    if rolled_back.get("revision") != rollout.candidate or rolled_back.get("cause") != "Crashed":
        wrong.append(f"not rolled back for the crash: {rolled_back}")
    if rollout.recorder.steps() != [0, 1]:
        wrong.append(f"steps {rollout.recorder.steps()}")
    exposure = bad_exposure_s(rollout.records, rollout.candidate)
    if exposure > INTERVAL_S + 5:
        wrong.append(f"clients served by the crashing candidate for {exposure} s")
    report(
        fault_report,
        "candidate pod crash-looping mid-step",
        rollout,
        wrong,
        f"killed {len(kills)} time(s); {rolled_back.get('reason', '')}",
    )


class Harmful:
    """Client requests that turn harmful on demand: first only rows the failing model takes,
    then the usual rows, some of which make it fail."""

    def __init__(self) -> None:
        rows = traffic_rows()
        self.harmless = infer_bodies([[abs(v) for v in row] for row in rows])
        self.usual = infer_bodies(rows)
        self.harmful = False

    def __call__(self, index: int) -> dict[str, Any]:
        return (self.usual if self.harmful else self.harmless)(index)


@pytest.mark.kills_operator
def test_the_operator_killed_ten_times_in_a_rollout_that_rolls_back(
    cluster: Cluster,
    operator: InClusterOperator,
    namespace: str,
    models: dict[str, TrainedModel],
    local: LocalCluster,
    fault_report: list[FaultResult],
) -> None:
    """SIGKILL to the leading replica's process ten times: nine while a candidate that fails on
    part of real traffic ramps under traffic it takes; then clients send what it fails on, and
    the tenth kill comes right then. It is rolled back, and clients are exposed to it no longer
    than `interval + 5 s`. Each step holds until a person promotes it once its three kills
    are done, so the rollout lasts as long as the kills take, however long other tests'
    faults keep the replicas from it."""
    paused = RolloutOptions(
        steps=[{**step, "pause": "1h"} for step in STEPS],
        interval=f"{INTERVAL_S}s",
        checks=[{"name": "error-rate", "max": 0.05}],
    )
    rollout = Rollout(cluster, namespace, models, paused)
    body = Harmful()
    kills: list[str] = []
    killed_at: list[float] = []

    def kill_the_leader() -> None:
        """Once a replica leads again (it renewed the Lease since the last kill), SIGKILL to
        its process: the kubelet starts it again in the same pod."""
        since = killed_at[-1] if killed_at else 0.0

        def leads_again() -> str | None:
            leader = operator.leader_pod()
            return leader if leader and operator.lease_renewed_at() > since else None

        def running_leader() -> tuple[str, str] | None:
            # Asked again on each poll: a leader that is gone meanwhile (another scenario
            # killing replicas beside this one) gives way to the next.
            leader = leads_again()
            container = running_container(cluster, operator.namespace, leader) if leader else None
            return (leader, container) if leader and container else None

        deadline = time.monotonic() + 120
        while True:
            leader, container = wait_for(
                running_leader, 90, "a replica leads and runs", interval=0.2
            )
            try:
                local.kill_container(container)
                break
            except RuntimeError:
                # Its container ended between the look and the kill: the next leader, then.
                if time.monotonic() > deadline:
                    raise
        killed_at.append(time.time())
        kills.append(leader)

    def kill_ten_times(this: Rollout) -> None:
        over = settled(cluster, namespace, this.candidate)
        for step in range(len(STEPS)):
            wait_for(step_reached(cluster, namespace, step), 180, f"step {step + 1} reached")
            for _ in range(3):
                if over():
                    return
                before = status_fingerprint(cluster, namespace)
                with operator.alone():
                    kill_the_leader()

                # The next kill comes once the new leader moved the status on, or a check
                # interval after it leads if it had nothing to do.
                def moved(then: str | None = before) -> bool:
                    return status_fingerprint(cluster, namespace) != then or bool(over())

                with contextlib.suppress(AssertionError):
                    wait_for(moved, INTERVAL_S + 30, "the status moved", interval=0.2)
            if step < len(STEPS) - 1:
                promote(cluster, namespace)
        # Clients turn to what the candidate fails on, and its leader dies at that moment. No
        # other test strikes a replica until the outcome: the exposure is this kill's alone.
        with operator.alone():
            body.harmful = True
            if not over():
                kill_the_leader()
                wait_for(over, 120, "promoted or rolled back")

    rollout.run("bad", kill_ten_times, timeout=600, body=body)
    rolled_back = rollout.outcome.get("rolledBack") or {}
    wrong = []
    if (
        rolled_back.get("revision") != rollout.candidate
        or rolled_back.get("cause") != "CheckFailed"
    ):
        wrong.append(f"not rolled back on its checks: {rolled_back}")
    steps = [step for step in rollout.recorder.steps() if step is not None]
    if steps != sorted(set(steps)):
        wrong.append(f"steps {steps}")
    if len(kills) < 10:
        wrong.append(f"only {len(kills)} kills before the outcome")
    exposure = bad_exposure_s(rollout.records, rollout.candidate)
    if exposure > INTERVAL_S + 5:
        wrong.append(f"clients served by the failing candidate for {exposure} s")
    report(
        fault_report,
        "operator killed 10 times, rollout that rolls back",
        rollout,
        wrong,
        f"{len(kills)} kills, the last as the candidate began failing; "
        f"{rolled_back.get('reason', '')}",
    )
