"""Blue/green through `decide`: the new revision at full size behind the preview Service,
checked there, then one switch of all traffic; undo within the window."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import Commands, read_commands
from modeldeploy.api.observed import Crash
from modeldeploy.rollout import FAIL, INCONCLUSIVE, PASS, Preflight, parse_stamp
from modeldeploy.rollout import preflight as gate
from modeldeploy.rollout.wakeup import next_wakeup
from tests.unit.test_rollout_canary import Sim, make_spec

BLUE_GREEN: dict[str, Any] = {"strategy": "blueGreen", "blueGreen": {"previewDuration": "30s"}}


def blue_green_sim(**overrides: Any) -> Sim:
    options = {**BLUE_GREEN, **overrides}
    sim = Sim(make_spec(**options))
    sim.deploy_stable()
    sim.change("v2", "r2", **options)
    return sim


def test_the_new_revision_comes_up_at_full_size_without_client_traffic() -> None:
    sim = blue_green_sim()
    first = sim.step()
    assert first.replicas == {"r1": 4, "r2": 4}
    assert first.status.phase == "Preview"
    assert [e.reason for e in first.events][:1] == ["RolloutStarted"]
    assert "m-canary" in first.events[0].message
    preview = sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    assert any(e.reason == "PreviewReady" for e in preview.events)
    assert preview.canary_revision == "r2"  # the preview Service selects it
    assert all(d.weight == 0 and d.client_revisions == ["r1"] for d in sim.decisions)
    assert preview.status.effective_weight == 0


def test_after_the_preview_all_traffic_switches_at_once() -> None:
    sim = blue_green_sim()
    switched = sim.run_until(lambda d: d.status.stable.revision == "r2")
    assert switched.client_revisions == ["r2"]
    assert switched.status.previous.revision == "r1"
    assert switched.replicas == {"r2": 4, "r1": 4}  # the old one warm for an undo
    ready_at = sim.decisions[-2].status.rollout.step_ready_at
    assert sim.status.promoted_at >= ready_at
    weights = {d.weight for d in sim.decisions}
    assert weights == {0}
    reasons = [e.reason for d in sim.decisions for e in d.events]
    assert reasons.index("PreviewReady") < reasons.index("Promoted")
    # Never switched before the preview lasted previewDuration.
    history = [d.status for d in sim.decisions if d.status.rollout]
    ready = next(s.rollout.step_ready_at for s in history if s.rollout.step_ready_at)
    previewed = parse_stamp(sim.status.promoted_at, UTC) - parse_stamp(ready, UTC)
    assert previewed.total_seconds() >= 30


def test_a_failing_check_on_the_preview_rolls_back_without_a_switch() -> None:
    sim = blue_green_sim()
    sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    rolled_back = sim.step(seconds=10, verdict=FAIL)
    assert rolled_back.status.phase == "RolledBack"
    assert rolled_back.status.rolled_back.cause == "CheckFailed"
    assert rolled_back.replicas == {"r1": 4, "r2": 0}
    assert rolled_back.client_revisions == ["r1"]


def test_a_preview_that_crashes_is_rolled_back_before_any_switch() -> None:
    sim = blue_green_sim()
    sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    sim.crashes = {"r2": (Crash("m-r2-b", 1, "OOMKilled"),)}
    rolled_back = sim.step()
    assert rolled_back.status.rolled_back.cause == "Crashed"
    assert "pod m-r2-b crashed once (last: OOMKilled)" in rolled_back.status.rolled_back.reason
    assert rolled_back.replicas == {"r1": 4, "r2": 0}
    assert rolled_back.client_revisions == ["r1"]


def test_the_preflight_gates_the_preview() -> None:
    sim = blue_green_sim()
    sim.preflight = Preflight(FAIL, "schema changed", cause=gate.INCOMPATIBLE_SCHEMA)
    rolled_back = sim.run_until(lambda d: d.status.phase == "RolledBack")
    assert rolled_back.status.rolled_back.cause == "IncompatibleSchema"
    assert all(
        d.status.rollout is None or not d.status.rollout.step_ready_at for d in sim.decisions
    )


def test_an_approval_holds_the_switch_until_promoted() -> None:
    sim = blue_green_sim(blueGreen={"previewDuration": "10s", "approval": "required"})
    held = sim.run_until(lambda d: d.status.phase == "AwaitingApproval")
    assert "kubectl modeldeploy promote m" in held.status.message
    for _ in range(20):
        assert sim.step(seconds=5).status.phase == "AwaitingApproval"
    promote = read_commands({"modeldeploy.io/promote": "step@1"}, sim.status)
    switched = sim.step(commands=promote)
    assert switched.status.stable.revision == "r2"


def test_undo_switches_back_to_the_warm_old_revision() -> None:
    sim = blue_green_sim()
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    undo = read_commands({"modeldeploy.io/undo": "undo@1"}, sim.status)
    undone = sim.step(commands=undo)
    assert undone.status.stable.revision == "r1"
    assert undone.client_revisions[0] == "r1"


def test_a_blue_green_rollout_wakes_for_its_checks() -> None:
    sim = blue_green_sim()
    sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake is not None and (wake - sim.now).total_seconds() <= 10.1


@settings(max_examples=60, deadline=None)
@given(
    verdicts=st.lists(st.sampled_from([PASS, FAIL, INCONCLUSIVE]), min_size=1, max_size=12),
    failure_limit=st.integers(0, 2),
)
def test_clients_never_reach_the_new_revision_before_the_switch(
    verdicts: list[str], failure_limit: int
) -> None:
    sim = blue_green_sim(failureLimit=failure_limit)
    pending = list(verdicts)
    for _ in range(300):
        verdict = (pending.pop(0) if pending else PASS) if sim.status.rollout else None
        decision = sim.step(seconds=5, verdict=verdict if sim.status.rollout else None)
        stable = decision.status.stable.revision
        assert decision.weight == 0
        assert decision.client_revisions[0] == stable
        if stable == "r1":
            assert decision.client_revisions == ["r1"]
        if decision.status.phase in ("RolledBack", "Ready") and decision.status.rollout is None:
            break
    assert sim.status.phase in ("RolledBack", "Ready", "Progressing")
    if sim.status.phase == "RolledBack":
        assert sim.status.rolled_back.cause in ("CheckFailed", "Inconclusive")


def test_abort_and_pause_act_on_the_preview() -> None:
    sim = blue_green_sim()
    sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    paused = sim.step(commands=Commands(paused=True))
    assert paused.status.phase == "Paused"
    aborted = sim.step(commands=Commands(abort=True, tokens={"abort": "abort@1"}))
    assert aborted.status.rolled_back.cause == "Aborted"


def test_a_shadow_copies_to_the_preview_until_the_switch() -> None:
    shadow = {"percent": 50, "duration": "60s", "minAgreement": 0.9}
    sim = blue_green_sim(shadow=shadow)
    preview = sim.run_until(lambda d: d.status.rollout.step_ready_at is not None)
    assert preview.shadow is not None and preview.shadow.percent == 50
    switched = sim.run_until(lambda d: d.status.stable.revision == "r2")
    assert switched.shadow is None
    ready = parse_stamp(preview.status.rollout.step_ready_at, UTC)
    # The longer of previewDuration (30s) and the shadow's duration (60s).
    assert (parse_stamp(switched.status.promoted_at, UTC) - ready).total_seconds() >= 60
