"""The canary ramp of `rollout.decide`, driven through whole rollouts by a small simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import Commands, read_commands
from modeldeploy.api.observed import Crash, Observed, ObservedDeployment
from modeldeploy.api.spec import ModelDeploymentSpec, parse_spec
from modeldeploy.api.status import CheckStatus, ModelDeploymentStatus, RolloutState, parse_status
from modeldeploy.rollout import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PASS,
    Analysis,
    Decision,
    Preflight,
    analysis_due,
    decide,
    preflight,
    resolved_steps,
)
from modeldeploy.runtime import mergepatch

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PREFLIGHT_PASSED = Preflight(PASS, "schema unchanged; 1/1 smoke requests passed")


def make_spec(
    version: str = "v1",
    replicas: int = 4,
    steps: list[dict[str, Any]] | None = None,
    router: str = "replicas",
    env: dict[str, str] | None = None,
    **rollout: Any,
) -> ModelDeploymentSpec:
    traffic: dict[str, Any] = {"router": router}
    if router == "gateway-api":
        traffic["httpRoute"] = {"name": "m"}
    return parse_spec(
        {
            "model": {"name": "m", "version": version, "uri": "file:///m", "format": "sklearn"},
            "replicas": replicas,
            "serving": {"env": [{"name": k, "value": v} for k, v in (env or {}).items()]},
            "rollout": {
                "steps": steps or [{"weight": 10}, {"weight": 50}],
                "interval": "10s",
                "traffic": traffic,
                **rollout,
            },
        }
    )


@dataclass
class Sim:
    """A cluster where Deployments become ready `lag` seconds after they are scaled."""

    spec: ModelDeploymentSpec
    revision: str = "r1"
    now: datetime = T0
    stored: dict[str, Any] = field(default_factory=dict)
    """The status as the API server keeps it."""
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    """The status as the operator reads it: `stored`, parsed."""
    replicas: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    ready_cap: dict[str, int] = field(default_factory=dict)
    """At most this many pods of a revision become Ready, however many it has."""
    crashes: dict[str, tuple[Crash, ...]] = field(default_factory=dict)
    """Pods of a revision whose containers crashed, as the shell reads them."""
    decisions: list[Decision] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)
    preflight: Preflight = PREFLIGHT_PASSED
    """What the shell's preflight finds whenever one is due."""

    def observed(self) -> Observed:
        return Observed(
            deployments={
                rev: ObservedDeployment(
                    f"m-{rev}",
                    rev,
                    n,
                    self.ready.get(rev, 0),
                    self.ready.get(rev, 0),
                    self.uids[rev],
                )
                for rev, n in self.replicas.items()
            },
            crashes=self.crashes,
        )

    def step(
        self,
        seconds: float = 1.0,
        verdict: str | None = None,
        commands: Commands | None = None,
    ) -> Decision:
        self.now += timedelta(seconds=seconds)
        analysis = None
        if verdict is not None or analysis_due(self.spec, self.status, self.now):
            chosen = verdict or PASS
            analysis = Analysis(
                chosen, [CheckStatus(name="error-rate", verdict=chosen)], f"error-rate {chosen}"
            )
        found = self.preflight if preflight.due(self.status, self.revision, self.now) else None
        given = self.status.wire()
        decision = decide(
            "m",
            self.spec,
            self.revision,
            self.status,
            self.observed(),
            self.now,
            1,
            commands,
            analysis,
            preflight=found,
        )
        self.decisions.append(decision)
        assert self.status.wire() == given, "decide changed the status it was given"
        # The status is written as the reconciler writes it and kept as the API server keeps
        # it: a merge patch, which leaves alone every nested key it does not name.
        patch = mergepatch.diff(self.stored, decision.status.wire())
        self.stored = mergepatch.apply(self.stored, patch)
        # Whatever the state machine writes, the CRD's status schema must hold, or the API
        # server prunes it: parsed strictly, a field the models lack is an error here.
        self.status = parse_status(self.stored)
        for rev, n in decision.replicas.items():
            self.uids.setdefault(rev, f"uid-{rev}")
            self.replicas[rev] = n
            self.ready[rev] = 0 if rev in self.broken else min(n, self.ready_cap.get(rev, n))
        for rev in list(self.replicas):
            if rev not in decision.replicas:
                del self.replicas[rev]
                self.ready.pop(rev, None)
        return decision

    def run_until(self, predicate: Any, limit: int = 500, **kwargs: Any) -> Decision:
        for _ in range(limit):
            decision = self.step(**kwargs)
            if predicate(decision):
                return decision
        raise AssertionError(f"not reached: last status {self.status}")

    def deploy_stable(self) -> None:
        self.run_until(lambda d: d.status.phase == "Ready")

    def change(self, version: str, revision: str, **overrides: Any) -> None:
        self.spec = make_spec(version=version, **overrides)
        self.revision = revision


def phases(sim: Sim) -> list[str]:
    seen: list[str] = []
    for decision in sim.decisions:
        if not seen or seen[-1] != decision.status.phase:
            seen.append(decision.status.phase)
    return seen


def test_good_canary_ramps_every_step_and_is_promoted_by_swap() -> None:
    sim = Sim(make_spec(steps=[{"weight": 10}, {"weight": 25}, {"weight": 50}]))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=[{"weight": 10}, {"weight": 25}, {"weight": 50}])
    promoted = sim.run_until(lambda d: d.status.stable.revision == "r2")

    weights = [d.weight for d in sim.decisions if d.status.rollout]
    assert sorted(set(weights)) == [0, 10, 25, 50]
    assert weights == sorted(weights), "the weight only rises during a healthy ramp"
    # The promoted canary scales from its step size to full size before it is Ready.
    assert promoted.status.phase == "Progressing"
    sim.step()
    assert phases(sim) == ["Progressing", "Ready", "Canary", "Progressing", "Ready"]
    assert promoted.status.previous.revision == "r1"
    assert promoted.replicas["r2"] == 4
    assert [h.outcome for h in promoted.status.history] == ["Promoted", "Deployed"]
    reasons = [e.reason for d in sim.decisions for e in d.events]
    assert reasons.count("StepAdvanced") == 2
    assert "RolloutStarted" in reasons and "Promoted" in reasons

    # The old stable stays warm for scaleDownDelay (30s by default), then goes to zero and is
    # deleted when the rollback window (10m) closes.
    sim.step(seconds=31)
    assert sim.replicas["r1"] == 0
    sim.step(seconds=600)
    assert "r1" not in sim.replicas
    assert sim.status.previous is None


def test_canary_replicas_follow_the_step_weight_with_the_total_kept() -> None:
    sim = Sim(make_spec(replicas=4, steps=[{"weight": 25}, {"weight": 50}, {"weight": 75}]))
    sim.deploy_stable()
    sim.change("v2", "r2", replicas=4, steps=[{"weight": 25}, {"weight": 50}, {"weight": 75}])
    seen = set()
    for _ in range(200):
        decision = sim.step()
        if decision.status.rollout:
            seen.add((decision.replicas["r1"], decision.replicas["r2"]))
            assert decision.replicas["r1"] + decision.replicas["r2"] == 4
        if sim.status.stable.revision == "r2":
            break
    assert seen == {(3, 1), (2, 2), (1, 3)}


def test_failed_check_rolls_back_at_once_to_weight_zero() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    rolled = sim.step(verdict=FAIL)
    assert rolled.weight == 0
    assert rolled.replicas == {"r1": 4, "r2": 0}
    assert rolled.status.phase == "RolledBack"
    assert rolled.status.stable.revision == "r1"
    assert rolled.status.rolled_back.revision == "r2"
    assert "error-rate Fail" in rolled.status.rolled_back.reason
    assert [e.type for e in rolled.events] == ["Warning"]
    assert rolled.status.checks == [CheckStatus(name="error-rate", verdict=FAIL)]

    # No new attempt at the same revision, however long we wait.
    for _ in range(30):
        held = sim.step(seconds=10)
        assert held.weight == 0 and held.replicas.get("r2") == 0
        assert held.status.phase == "RolledBack"


def test_failure_limit_tolerates_that_many_failures() -> None:
    sim = Sim(make_spec(failureLimit=2))
    sim.deploy_stable()
    sim.change("v2", "r2", failureLimit=2)
    sim.run_until(lambda d: d.weight == 10)
    assert sim.step(verdict=FAIL).status.phase == "Canary"
    assert sim.step(verdict=FAIL).status.phase == "Canary"
    assert sim.step(verdict=FAIL).status.phase == "RolledBack"


@pytest.mark.parametrize("verdict", [INCONCLUSIVE, ERROR])
def test_missing_data_holds_the_ramp_then_rolls_back_past_the_limit(verdict: str) -> None:
    sim = Sim(make_spec(inconclusiveLimit=3))
    sim.deploy_stable()
    sim.change("v2", "r2", inconclusiveLimit=3)
    sim.run_until(lambda d: d.weight == 10)
    for _ in range(3):
        held = sim.step(seconds=10, verdict=verdict)
        assert held.status.phase == "Canary"
        assert held.status.rollout.step == 0, "missing data is never a pass"
        assert held.weight == 10
    rolled = sim.step(seconds=10, verdict=verdict)
    assert rolled.status.phase == "RolledBack"
    assert "inconclusive 4 times" in rolled.status.rolled_back.reason


def test_a_pass_resets_the_inconclusive_count() -> None:
    sim = Sim(make_spec(inconclusiveLimit=1, steps=[{"weight": 10, "pause": "1h"}]))
    sim.deploy_stable()
    sim.change("v2", "r2", inconclusiveLimit=1, steps=[{"weight": 10, "pause": "1h"}])
    sim.run_until(lambda d: d.weight == 10)
    for _ in range(5):
        assert sim.step(verdict=INCONCLUSIVE).status.phase == "Canary"
        assert sim.step(verdict=PASS).status.phase == "Canary"


def test_canary_never_ready_rolls_back_at_the_progress_deadline() -> None:
    sim = Sim(make_spec(progressDeadline="60s"))
    sim.deploy_stable()
    sim.change("v2", "r2", progressDeadline="60s")
    sim.broken.add("r2")
    for _ in range(59):
        decision = sim.step()
        assert decision.status.phase == "Canary"
        assert decision.weight == 0, "no weight to a canary without ready pods"
    rolled = sim.run_until(lambda d: d.status.phase == "RolledBack", limit=5)
    assert (
        "not Ready within progressDeadline 60s: 0/1 replicas ready"
        in rolled.status.rolled_back.reason
    )
    assert rolled.status.rolled_back.cause == "ProgressDeadlineExceeded"


def test_pause_holds_the_step_until_it_has_passed() -> None:
    steps = [{"weight": 10, "pause": "1m"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    reached = sim.run_until(lambda d: d.weight == 10)
    ready_at = datetime.strptime(reached.status.rollout.step_ready_at, "%Y-%m-%dT%H:%M:%SZ")
    advanced = sim.run_until(lambda d: d.status.rollout and d.status.rollout.step == 1)
    assert sim.now.replace(tzinfo=None) - ready_at >= timedelta(minutes=1)
    assert advanced.status.phase == "Canary"


def test_new_revision_mid_rollout_supersedes_the_canary() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    sim.change("v3", "r3")
    decision = sim.step()
    assert "r2" not in decision.replicas
    assert decision.status.rollout.revision == "r3"
    assert decision.status.rollout.step == 0
    assert decision.status.history[0].outcome == "Superseded"
    sim.run_until(lambda d: d.status.stable.revision == "r3")


def test_spec_back_to_stable_drops_the_canary() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    sim.change("v1", "r1")
    decision = sim.step()
    assert decision.replicas == {"r1": 4}
    assert decision.weight == 0
    assert decision.status.canary is None
    assert sim.step().status.phase == "Ready"


def test_retry_restarts_a_rolled_back_revision_once() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    sim.step(verdict=FAIL)
    retry = read_commands({"modeldeploy.io/retry": "retry@1"}, sim.status)
    restarted = sim.step(commands=retry)
    assert restarted.status.phase == "Canary"
    assert restarted.status.rollout.step == 0
    assert restarted.status.handled_commands == {"retry": "retry@1"}
    # The same annotation seen again is not a new retry.
    assert read_commands({"modeldeploy.io/retry": "retry@1"}, restarted.status).retry is False


def test_abort_rolls_back_and_promote_full_promotes() -> None:
    sim = Sim(make_spec(steps=[{"weight": 10, "pause": "1h"}, {"weight": 50}]))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=[{"weight": 10, "pause": "1h"}, {"weight": 50}])
    sim.run_until(lambda d: d.weight == 10)
    promoted = sim.step(commands=Commands(promote="full", tokens={"promote": "full@1"}))
    assert promoted.status.stable.revision == "r2"

    sim.change("v3", "r3", steps=[{"weight": 10, "pause": "1h"}, {"weight": 50}])
    sim.run_until(lambda d: d.weight == 10)
    aborted = sim.step(commands=Commands(abort=True, tokens={"abort": "abort@1"}))
    assert aborted.status.phase == "RolledBack"
    assert aborted.status.rolled_back.reason == "aborted as asked"
    assert aborted.weight == 0


def test_promote_one_step() -> None:
    steps = [{"weight": 10, "pause": "1h"}, {"weight": 20, "pause": "1h"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.weight == 10)
    stepped = sim.step(commands=Commands(promote="step", tokens={"promote": "step@1"}))
    assert stepped.status.rollout.step == 1


def test_paused_holds_but_a_failure_still_rolls_back() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    paused = Commands(paused=True)
    for _ in range(5):
        held = sim.step(seconds=10, verdict=PASS, commands=paused)
        assert held.status.phase == "Paused"
        assert held.status.rollout.step == 0
    assert sim.step(verdict=FAIL, commands=paused).status.phase == "RolledBack"


def test_undo_within_the_window_swaps_back() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    undo = Commands(undo=True, tokens={"undo": "undo@1"})
    # r1 kept warm at its last step's size: it is brought to full size before it takes over.
    started = sim.step(commands=undo)
    assert [e.reason for e in started.events] == ["UndoStarted"]
    assert started.status.stable.revision == "r2"
    assert started.replicas == {"r1": 4, "r2": 4}
    assert started.status.phase == "Progressing"
    undone = sim.step()
    assert [e.reason for e in undone.events] == ["Undone"]
    assert undone.status.stable.revision == "r1"
    assert undone.status.phase == "RolledBack"
    assert undone.replicas["r1"] == 4 and undone.replicas["r2"] == 0
    assert undone.status.rolled_back.reason == "undone as asked"
    assert undone.status.stable.undo_requested_at is None
    assert "undoRequestedAt" not in sim.stored["stable"]


def test_undo_after_the_scale_down_delay_never_leaves_clients_without_ready_pods() -> None:
    sim = Sim(make_spec(scaleDownDelay="30s"))
    sim.deploy_stable()
    sim.change("v2", "r2", scaleDownDelay="30s")
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    sim.step(seconds=60)
    assert sim.replicas["r1"] == 0, "scaled down after the delay"
    sim.broken.add("r1")  # r1's pods take a while to become Ready
    undo = Commands(undo=True, tokens={"undo": "undo@1"})
    decisions = [sim.step(commands=undo)]
    decisions += [sim.step() for _ in range(3)]
    assert all(d.status.stable.revision == "r2" for d in decisions)
    assert all(d.replicas == {"r1": 4, "r2": 4} for d in decisions), "r2 serves meanwhile"
    assert "undo: 0/4 replicas of r1" in decisions[-1].status.message
    sim.broken.discard("r1")
    sim.step()  # r1's pods are Ready now
    undone = sim.step()
    assert undone.status.stable.revision == "r1"
    assert undone.replicas == {"r1": 4, "r2": 0}
    # From the undo on, the revision serving as stable had all its replicas Ready throughout.
    for decision in [*decisions, undone]:
        assert decision.status.ready_replicas == 4, decision.status.message


def test_undo_after_the_window_is_refused() -> None:
    sim = Sim(make_spec(rollbackWindow="1m"))
    sim.deploy_stable()
    sim.change("v2", "r2", rollbackWindow="1m")
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    sim.step(seconds=120)
    refused = sim.step(commands=Commands(undo=True, tokens={"undo": "undo@1"}))
    assert refused.status.stable.revision == "r2"
    assert [e.reason for e in refused.events] == ["UndoUnavailable"]


def test_gateway_router_sizes_each_track_for_its_share_and_routes_by_weight() -> None:
    sim = Sim(make_spec(router="gateway-api"))
    sim.deploy_stable()
    sim.change("v2", "r2", router="gateway-api")
    reached = sim.run_until(lambda d: d.weight == 10)
    # 10% of four pods' load needs one pod, 90% still needs four.
    assert reached.replicas == {"r1": 4, "r2": 1}
    # At the next step the canary grows first; the stable shrinks once the traffic moved.
    growing = sim.run_until(lambda d: d.status.rollout is not None and d.status.rollout.step == 1)
    assert growing.weight == 10
    assert growing.replicas == {"r1": 4, "r2": 2}
    halved = sim.run_until(lambda d: d.weight == 50)
    assert halved.replicas == {"r1": 2, "r2": 2}
    promoted = sim.run_until(lambda d: d.status.stable.revision == "r2")
    assert promoted.weight == 0


def test_restart_resumes_at_the_same_step() -> None:
    """A restarted operator has only the status: deciding again from it repeats nothing."""
    sim = Sim(make_spec(steps=[{"weight": 10}, {"weight": 30}, {"weight": 60}]))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=[{"weight": 10}, {"weight": 30}, {"weight": 60}])
    sim.run_until(lambda d: d.status.rollout and d.status.rollout.step_ready_at)
    sim.step()
    status, world = sim.status, sim.observed()
    first = decide("m", sim.spec, "r2", status, world, sim.now, 1)
    after_restart = decide("m", sim.spec, "r2", status, world, sim.now, 1)
    assert after_restart == first, "the same status and world give the same decision"
    again = decide("m", sim.spec, "r2", first.status, world, sim.now, 1)
    assert again.status.rollout == status.rollout
    assert again.replicas == first.replicas and again.weight == first.weight
    assert again.events == []


def test_no_rollout_section_replaces_when_ready() -> None:
    spec = parse_spec(
        {"model": {"name": "m", "version": "v1", "uri": "file:///m", "format": "sklearn"}}
    )
    sim = Sim(spec)
    sim.deploy_stable()
    sim.spec = parse_spec(
        {"model": {"name": "m", "version": "v2", "uri": "file:///m", "format": "sklearn"}}
    )
    sim.revision = "r2"
    promoted = sim.run_until(lambda d: d.status.stable.revision == "r2")
    assert all(d.weight == 0 for d in sim.decisions)
    assert promoted.status.previous.revision == "r1"


def test_default_steps_when_the_rollout_names_none() -> None:
    spec = parse_spec(
        {
            "model": {"name": "m", "version": "v1", "uri": "file:///m", "format": "sklearn"},
            "rollout": {"interval": "5s"},
        }
    )
    assert spec.rollout is not None
    assert [s.weight for s in resolved_steps(spec.rollout)] == [10, 50]


# --- properties ------------------------------------------------------------------------------

verdicts = st.sampled_from([PASS, PASS, PASS, FAIL, INCONCLUSIVE, ERROR, None])
step_lists = st.lists(st.integers(1, 99), min_size=1, max_size=5, unique=True).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    weights=step_lists,
    replicas=st.integers(1, 6),
    sequence=st.lists(verdicts, min_size=1, max_size=60),
    failure_limit=st.integers(0, 2),
    inconclusive_limit=st.integers(0, 3),
)
def test_ramp_invariants(
    weights: list[int],
    replicas: int,
    sequence: list[str | None],
    failure_limit: int,
    inconclusive_limit: int,
) -> None:
    steps = [{"weight": w} for w in weights]
    options = {"failureLimit": failure_limit, "inconclusiveLimit": inconclusive_limit}
    sim = Sim(make_spec(replicas=replicas, steps=steps, **options))
    sim.deploy_stable()
    sim.change("v2", "r2", replicas=replicas, steps=steps, **options)
    rolled_back = False
    for verdict in sequence:
        before = sim.status
        decision = sim.step(seconds=5, verdict=verdict)
        state = before.rollout
        if state and state.step is not None:
            # The weight never exceeds the weight of the step the ramp is at.
            allowed = max(weights[min(state.step + 1, len(weights) - 1)], weights[state.step])
            assert decision.weight <= allowed
        if rolled_back:
            assert decision.weight == 0, "the weight never rises after a rollback"
        if decision.status.phase == "RolledBack":
            rolled_back = True
            assert decision.weight == 0
            assert decision.replicas.get("r2", 0) == 0
            assert decision.status.stable.revision == "r1"
            assert decision.replicas["r1"] == replicas, "stable is back at full size"
        if decision.status.stable.revision == "r2":
            assert not rolled_back
            assert decision.weight == 0
        total = sum(n for rev, n in decision.replicas.items() if rev in ("r1", "r2"))
        if decision.status.phase == "Canary" and replicas >= 2:
            assert total == replicas


def test_checks_go_on_every_interval_and_once_a_full_interval_into_each_step() -> None:
    spec = make_spec()  # interval 10s
    status = ModelDeploymentStatus(
        rollout=RolloutState(
            revision="r2",
            version="v2",
            started_at="2026-01-01T11:59:00Z",
            step=1,
            last_analysis_at="2026-01-01T12:00:00Z",  # the previous step's last check
            step_ready_at=None,  # this step's pods still coming up
        )
    )
    # Between steps the canary serves at the last step's weight: its checks go on.
    assert not analysis_due(spec, status, T0 + timedelta(seconds=9))
    assert analysis_due(spec, status, T0 + timedelta(seconds=10))
    # The step's weight reached at +2: the check at +10 comes first, then one at +12, a full
    # interval into the step, then every interval.
    status.rollout.step_ready_at = "2026-01-01T12:00:02Z"
    assert analysis_due(spec, status, T0 + timedelta(seconds=10))
    status.rollout.last_analysis_at = "2026-01-01T12:00:10Z"
    assert not analysis_due(spec, status, T0 + timedelta(seconds=11))
    assert analysis_due(spec, status, T0 + timedelta(seconds=12))
    status.rollout.last_analysis_at = "2026-01-01T12:00:12Z"
    assert not analysis_due(spec, status, T0 + timedelta(seconds=21))
    assert analysis_due(spec, status, T0 + timedelta(seconds=22))
    fresh = RolloutState(revision="r2", version="v2", started_at="2026-01-01T12:00:00Z", step=0)
    assert not analysis_due(spec, ModelDeploymentStatus(rollout=fresh), T0)


def test_only_a_pass_a_full_interval_into_a_step_moves_the_ramp_on() -> None:
    steps = [{"weight": 10}, {"weight": 50}, {"weight": 90}]
    sim = Sim(make_spec(steps=steps))  # interval 10s
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    early = sim.step(seconds=5, verdict=PASS)
    assert early.status.rollout.step == 0, "5 s into the step is not a full interval"
    advanced = sim.step(seconds=5, verdict=PASS)
    assert advanced.status.rollout.step == 1


def test_a_failing_check_between_steps_rolls_back() -> None:
    """The next step's pods are still coming up; the canary serves at the last step's weight
    and breaches."""
    steps = [{"weight": 10}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    first = sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    sim.ready_cap["r2"] = first.replicas["r2"]  # the second step's new pods never get Ready
    sim.run_until(lambda d: d.status.rollout.step == 1)
    held = sim.step(seconds=1)
    assert held.weight == 10
    assert held.status.rollout.step_ready_at is None
    rolled_back = sim.run_until(lambda d: d.status.phase == "RolledBack", verdict=FAIL)
    assert rolled_back.status.rolled_back.cause == "CheckFailed"
    assert rolled_back.weight == 0


def test_every_revision_is_rendered_from_its_own_spec() -> None:
    """The stable Deployment keeps the model it was deployed with while a canary ramps."""
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2", env={"SERVING_RESPONSE_DELAY_MS": "250"})
    decision = sim.run_until(lambda d: d.weight == 10)
    sources = {
        rev: source.model_dump(mode="json", by_alias=True, exclude_none=True)
        for rev, source in decision.sources.items()
    }
    assert sources["r1"]["model"]["version"] == "v1"
    assert sources["r1"]["serving"]["env"] == []
    assert sources["r2"]["model"]["version"] == "v2"
    assert sources["r2"]["serving"]["env"] == [
        {"name": "SERVING_RESPONSE_DELAY_MS", "value": "250"}
    ]
    promoted = sim.run_until(lambda d: d.status.stable.revision == "r2")
    assert promoted.status.previous.source.model.version == "v1"
    assert promoted.sources["r1"].model.version == "v1"


def test_a_ramp_without_checks_says_it_is_unguarded() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    started = sim.step()
    warnings = [e for e in started.events if e.reason == "Unguarded"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    assert "no checks configured" in warnings[0].message
    assert "unguarded" in started.status.message
    again = sim.step()
    assert not [e for e in again.events if e.reason == "Unguarded"], "said once, at the start"


def test_a_ramp_with_checks_is_not_called_unguarded() -> None:
    checks = [{"name": "error-rate", "max": 0.01}]
    sim = Sim(make_spec(checks=checks))
    sim.deploy_stable()
    sim.change("v2", "r2", checks=checks)
    started = sim.step()
    assert not [e for e in started.events if e.reason == "Unguarded"]
    assert "unguarded" not in started.status.message


def test_the_client_service_sends_only_where_the_weight_says() -> None:
    """The replicas router shares the client Service only during a ramp at a weight above 0:
    a canary not yet at its step, a rolled-back one, and a previous stable kept warm after a
    promotion get no client traffic."""
    sim = Sim(make_spec(steps=[{"weight": 25}, {"weight": 50}]))
    sim.deploy_stable()
    assert sim.decisions[-1].client_revisions == ["r1"]
    sim.change("v2", "r2", steps=[{"weight": 25}, {"weight": 50}])
    promoted = sim.run_until(lambda d: d.status.stable.revision == "r2")
    seen = {
        (d.weight, d.status.stable.revision, tuple(d.client_revisions))
        for d in sim.decisions
        if d.status.stable
    }
    assert seen == {
        (0, "r1", ("r1",)),
        (25, "r1", ("r1", "r2")),
        (50, "r1", ("r1", "r2")),
        (0, "r2", ("r2", "r1")),
    }
    # Until the promoted revision is at full strength, the old one still takes its share.
    assert promoted.client_revisions == ["r2", "r1"]
    full = sim.run_until(lambda d: d.status.phase == "Ready")
    # Then r1 is kept warm for an undo and gets no client traffic.
    assert full.client_revisions == ["r2"]
    assert full.replicas["r1"] > 0 and full.status.effective_weight == 0


def test_a_rolled_back_canary_leaves_the_client_service_at_once() -> None:
    sim = Sim(make_spec(steps=[{"weight": 25}, {"weight": 50}]))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=[{"weight": 25}, {"weight": 50}])
    sim.run_until(lambda d: d.weight == 25)
    rolled_back = sim.step(verdict=FAIL)
    assert rolled_back.status.phase == "RolledBack"
    assert rolled_back.client_revisions == ["r1"]


def test_the_gateway_router_keeps_the_client_service_on_stable() -> None:
    sim = Sim(make_spec(router="gateway-api"))
    sim.deploy_stable()
    sim.change("v2", "r2", router="gateway-api")
    ramping = sim.run_until(lambda d: d.weight > 0)
    assert ramping.client_revisions == ["r1"]
    assert ramping.replicas == {"r1": 4, "r2": 1}


def test_an_approval_step_holds_until_promoted_while_checks_go_on() -> None:
    steps = [{"weight": 10}, {"weight": 50, "approval": "required"}, {"weight": 80}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    waiting = sim.run_until(lambda d: d.status.phase == "AwaitingApproval")
    assert waiting.weight == 50 and waiting.status.rollout.step == 1
    assert "awaiting approval: kubectl modeldeploy promote m" in waiting.status.message
    assert [e.reason for e in waiting.events].count("AwaitingApproval") == 1
    reconciling = next(c for c in waiting.status.conditions if c.type == "Reconciling")
    assert (reconciling.status, reconciling.reason) == ("True", "AwaitingApproval")
    # Time and passing checks do not move it on.
    for _ in range(30):
        held = sim.step(seconds=10)
        assert held.status.phase == "AwaitingApproval" and held.weight == 50
        assert not held.events
    # A promote moves it one step; the next step needs no approval.
    promote = read_commands({"modeldeploy.io/promote": "step@1"}, sim.status)
    moved = sim.step(commands=promote)
    assert moved.status.rollout.step == 2
    assert sim.run_until(lambda d: d.status.stable.revision == "r2")


def test_a_breach_while_awaiting_approval_still_rolls_back() -> None:
    steps = [{"weight": 25, "approval": "required"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.status.phase == "AwaitingApproval")
    rolled_back = sim.step(verdict=FAIL)
    assert rolled_back.status.phase == "RolledBack"


def test_a_crashing_canary_is_rolled_back_at_once_with_what_ended_it() -> None:
    steps = [{"weight": 25, "pause": "1h"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.weight == 25)
    sim.crashes = {"r2": (Crash("m-r2-a", 2, "Error, exit code 137"),)}
    rolled = sim.step()
    assert rolled.status.phase == "RolledBack"
    assert rolled.weight == 0
    assert rolled.replicas["r2"] == 0
    assert rolled.status.rolled_back.cause == "Crashed"
    assert rolled.status.rolled_back.reason == (
        "revision r2 crashed: pod m-r2-a crashed 2 times (last: Error, exit code 137)"
    )


def test_a_crash_of_the_stable_or_of_another_revision_does_not_roll_the_canary_back() -> None:
    steps = [{"weight": 25, "pause": "1h"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.weight == 25)
    sim.crashes = {"r1": (Crash("m-r1-a", 1, "OOMKilled"),)}
    assert sim.step().status.phase == "Canary"
