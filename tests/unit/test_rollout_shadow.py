"""The shadow phase through `decide`: copies to the new revision, judged by the shadow's own
checks for its duration, before the first weight."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import Commands
from modeldeploy.rollout import FAIL, INCONCLUSIVE, PASS
from modeldeploy.rollout.shadow import checks_for, running
from modeldeploy.rollout.wakeup import next_wakeup
from tests.unit.test_rollout_canary import Sim, make_spec

SHADOW: dict[str, Any] = {"percent": 20, "duration": "30s", "minAgreement": 0.95}


def shadow_sim(**overrides: Any) -> Sim:
    options = {"shadow": SHADOW, **overrides}
    sim = Sim(make_spec(**options))
    sim.deploy_stable()
    sim.change("v2", "r2", **options)
    return sim


def in_shadow(decision: Any) -> bool:
    return running(decision.status.rollout)


def test_the_shadow_copies_before_any_weight_then_the_ramp_begins() -> None:
    sim = shadow_sim()
    first = sim.run_until(in_shadow)
    assert first.status.phase == "Shadow"
    assert first.shadow is not None and first.shadow.candidate_revision == "r2"
    assert first.shadow.percent == 20 and first.shadow.ttl_s >= 30
    assert first.replicas == {"r1": 4, "r2": 1}  # the stable serves alone, at full size
    assert first.weight == 0 and first.client_revisions == ["r1"]
    assert any(e.reason == "ShadowStarted" for e in first.events)
    ramped = sim.run_until(lambda d: d.weight > 0)
    assert ramped.shadow is None
    reasons = [e.reason for d in sim.decisions for e in d.events]
    assert reasons.index("ShadowPassed") < reasons.index("StepReached")
    started = first.status.rollout.shadow.started_at
    passed = ramped.status.rollout.shadow.passed_at
    assert passed >= started
    assert all(d.weight == 0 for d in sim.decisions if in_shadow(d))


def test_a_failing_shadow_check_rolls_back_before_any_weight() -> None:
    sim = shadow_sim()
    sim.run_until(in_shadow)
    sim.run_until(lambda d: d.status.rollout.last_analysis_at is not None)
    rolled_back = sim.step(seconds=10, verdict=FAIL)
    assert rolled_back.status.phase == "RolledBack"
    assert rolled_back.status.rolled_back.cause == "CheckFailed"
    assert rolled_back.shadow is None
    assert all(d.weight == 0 for d in sim.decisions)


def test_the_shadow_checks_run_only_while_it_does() -> None:
    sim = shadow_sim(checks=[{"name": "error-rate", "max": 0.05}])
    during = sim.run_until(in_shadow)
    names = [c.name for c in checks_for(sim.spec, during.status)]
    assert names == ["error-rate", "shadow-error-rate", "shadow-agreement"]
    after = sim.run_until(lambda d: d.weight > 0)
    assert [c.name for c in checks_for(sim.spec, after.status)] == ["error-rate"]


def test_the_shadow_wakes_for_its_checks() -> None:
    sim = shadow_sim()
    sim.run_until(in_shadow)
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake is not None and (wake - sim.now).total_seconds() <= 10.1


def test_a_person_can_end_the_shadow_or_promote_outright() -> None:
    sim = shadow_sim()
    sim.run_until(in_shadow)
    ended = sim.step(commands=Commands(promote="step", tokens={"promote": "step@1"}))
    assert not in_shadow(ended) and ended.status.rollout.step == 0
    assert ended.weight == 10

    sim = shadow_sim()
    sim.run_until(in_shadow)
    promoted = sim.step(commands=Commands(promote="full", tokens={"promote": "full@1"}))
    assert promoted.status.stable.revision == "r2"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([PASS, FAIL, INCONCLUSIVE]), min_size=1, max_size=10))
def test_no_weight_before_the_shadow_passed(verdicts: list[str]) -> None:
    sim = shadow_sim(failureLimit=1)
    sim.run_until(in_shadow)
    pending = list(verdicts)
    for _ in range(200):
        decision = sim.step(seconds=5, verdict=pending.pop(0) if pending else None)
        state = decision.status.rollout
        record = state.shadow if state is not None else None
        if decision.weight > 0:
            assert record is not None and record.passed_at, decision.status
        if decision.status.phase in ("RolledBack", "Ready"):
            break


def test_pause_holds_the_shadow_until_resumed() -> None:
    sim = shadow_sim()
    sim.run_until(in_shadow)
    paused = Commands(paused=True)
    for _ in range(12):
        held = sim.step(seconds=10, verdict=PASS, commands=paused)
        assert held.status.phase == "Paused" and held.weight == 0
        assert not any(e.reason == "ShadowPassed" for e in held.events)
    resumed = sim.run_until(lambda d: d.weight > 0)
    assert resumed.status.rollout.shadow.passed_at
