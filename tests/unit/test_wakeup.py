"""`wakeup.next_wakeup`: the one moment time alone changes a decision, for every phase.

The property that makes event-driven reconciles safe: between a settled decision and the
wake-up it asks for, deciding again (with nothing observed changing) changes nothing, so a
reconcile skipped in that span is never a transition missed; and at the wake-up, something is
due or does change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import Commands
from modeldeploy.rollout import FAIL, PASS, Decision, analysis_due, decide, parse_stamp
from modeldeploy.rollout.wakeup import MARGIN, next_wakeup
from modeldeploy.runtime import mergepatch
from tests.unit.test_rollout_canary import Sim, make_spec


def settle(sim: Sim, commands: Commands | None = None) -> None:
    """Reconciles at the same instant until the status stops changing, as the events of the
    operator's own writes would."""
    for _ in range(10):
        before = sim.stored
        sim.step(seconds=0, commands=commands)
        if sim.stored == before:
            return
    raise AssertionError("no fixed point at one instant")


def decide_at(sim: Sim, at: datetime, commands: Commands | None = None) -> Decision:
    """Deciding again at `at`, with nothing observed changed; the Sim is left as it was."""
    return decide("m", sim.spec, sim.revision, sim.status, sim.observed(), at, 1, commands, None)


def assert_quiet_until_wakeup(sim: Sim, commands: Commands | None = None) -> None:
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    horizon = (wake - sim.now).total_seconds() if wake else 10 * 3600.0
    assert horizon > 0
    decided = sim.decisions[-1].replicas
    for seconds in (0.001, horizon / 2, max(horizon - 0.02, 0.001)):
        at = sim.now + timedelta(seconds=seconds)
        assert not analysis_due(sim.spec, sim.status, at), f"a check due {seconds}s before wake"
        decision = decide_at(sim, at, commands)
        assert not mergepatch.diff(sim.stored, decision.status.wire()), (
            f"time alone changed the status at +{seconds}s"
        )
        assert decision.replicas == decided
        assert not decision.events
    if wake is not None:
        # At the wake-up a check is due, or deciding changes something.
        decision = decide_at(sim, wake, commands)
        assert (
            analysis_due(sim.spec, sim.status, wake)
            or mergepatch.diff(sim.stored, decision.status.wire())
            or decision.replicas != decided
        )


def test_a_ready_object_at_rest_never_asks_to_be_woken() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    settle(sim)
    assert sim.status.phase == "Ready"
    assert next_wakeup(sim.spec, sim.status, sim.now) is None
    assert_quiet_until_wakeup(sim)


def test_first_deploy_without_rollout_waits_for_events_only() -> None:
    spec = make_spec()
    spec = spec.model_copy(update={"rollout": None})
    sim = Sim(spec, broken={"r1"})
    sim.step()
    assert sim.status.phase == "Progressing"
    assert next_wakeup(sim.spec, sim.status, sim.now) is None


def test_a_step_waiting_for_its_pods_wakes_at_its_progress_deadline() -> None:
    sim = Sim(make_spec(progressDeadline="90s"))
    sim.deploy_stable()
    sim.change("v2", "r2", progressDeadline="90s")
    sim.broken.add("r2")
    sim.step()
    settle(sim)
    state = sim.status.rollout
    assert not state.step_ready_at
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake == parse_stamp(state.step_set_at, UTC) + timedelta(seconds=90) + MARGIN
    assert_quiet_until_wakeup(sim)
    # At the wake-up the canary is rolled back for missing its deadline.
    sim.step(seconds=(wake - sim.now).total_seconds())
    assert sim.status.phase == "RolledBack"
    assert sim.status.rolled_back.cause == "ProgressDeadlineExceeded"


def test_a_step_at_its_weight_wakes_when_its_check_is_due() -> None:
    sim = Sim(make_spec(interval="10s"))
    sim.deploy_stable()
    sim.change("v2", "r2", interval="10s")
    sim.run_until(lambda d: d.status.rollout is not None and bool(d.status.rollout.step_ready_at))
    settle(sim)
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake is not None
    assert timedelta(0) < wake - sim.now <= timedelta(seconds=10) + MARGIN
    assert_quiet_until_wakeup(sim)
    assert analysis_due(sim.spec, sim.status, wake)


def test_after_a_check_the_next_one_is_one_interval_later() -> None:
    sim = Sim(make_spec(interval="10s", steps=[{"weight": 10, "pause": "1m"}, {"weight": 50}]))
    sim.deploy_stable()
    sim.change("v2", "r2", interval="10s", steps=[{"weight": 10, "pause": "1m"}, {"weight": 50}])
    sim.run_until(
        lambda d: d.status.rollout is not None and bool(d.status.rollout.last_analysis_at)
    )
    settle(sim)
    assert sim.status.rollout.step == 0, "the pause holds the step"
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake is not None and wake - sim.now <= timedelta(seconds=10) + MARGIN
    assert_quiet_until_wakeup(sim)


def test_paused_rollout_still_wakes_for_its_checks() -> None:
    paused = Commands(paused=True)
    sim = Sim(make_spec(interval="10s"))
    sim.deploy_stable()
    sim.change("v2", "r2", interval="10s")
    sim.run_until(lambda d: d.status.rollout is not None and bool(d.status.rollout.step_ready_at))
    settle(sim, paused)
    assert sim.status.phase == "Paused"
    assert next_wakeup(sim.spec, sim.status, sim.now) is not None
    assert_quiet_until_wakeup(sim, paused)


def test_promotion_wakes_for_the_scale_down_delay_then_the_rollback_window() -> None:
    sim = Sim(make_spec(scaleDownDelay="30s", rollbackWindow="5m"))
    sim.deploy_stable()
    sim.change("v2", "r2", scaleDownDelay="30s", rollbackWindow="5m")
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    settle(sim)
    promoted_at = sim.status.promoted_at
    assert promoted_at
    first = next_wakeup(sim.spec, sim.status, sim.now)
    assert first is not None
    assert_quiet_until_wakeup(sim)
    sim.step(seconds=(first - sim.now).total_seconds())
    assert sim.replicas["r1"] == 0, "the old stable is scaled down at the delay's end"
    settle(sim)
    second = next_wakeup(sim.spec, sim.status, sim.now)
    assert second is not None and second > first
    assert_quiet_until_wakeup(sim)
    sim.step(seconds=(second - sim.now).total_seconds())
    assert "r1" not in sim.replicas and sim.status.previous is None
    settle(sim)
    assert next_wakeup(sim.spec, sim.status, sim.now) is None


def test_rolled_back_object_asks_for_nothing_but_its_undo_window() -> None:
    sim = Sim(make_spec())
    sim.deploy_stable()
    sim.change("v2", "r2")
    sim.run_until(lambda d: d.weight == 10)
    sim.step(verdict=FAIL)
    settle(sim)
    assert sim.status.phase == "RolledBack"
    assert next_wakeup(sim.spec, sim.status, sim.now) is None
    assert_quiet_until_wakeup(sim)


def test_stable_short_of_ready_wakes_to_turn_degraded() -> None:
    sim = Sim(make_spec(progressDeadline="2m"))
    sim.deploy_stable()
    sim.spec = make_spec(progressDeadline="2m", replicas=6)
    sim.broken.add("r1")
    sim.step()
    settle(sim)
    assert sim.status.phase == "Progressing"
    wake = next_wakeup(sim.spec, sim.status, sim.now)
    assert wake is not None
    assert_quiet_until_wakeup(sim)
    sim.step(seconds=(wake - sim.now).total_seconds())
    assert sim.status.phase == "Degraded"


def test_moments_already_past_are_left_to_events() -> None:
    sim = Sim(make_spec(interval="10s"))
    sim.deploy_stable()
    sim.change("v2", "r2", interval="10s")
    sim.run_until(lambda d: d.status.rollout is not None and bool(d.status.rollout.step_ready_at))
    late = sim.now + timedelta(hours=1)
    wake = next_wakeup(sim.spec, sim.status, late)
    assert wake is None or wake > late


@settings(max_examples=60, deadline=None)
@given(
    verdicts=st.lists(st.sampled_from([PASS, PASS, PASS, FAIL]), min_size=1, max_size=12),
    interval=st.integers(min_value=1, max_value=120),
    pause=st.one_of(st.none(), st.integers(min_value=1, max_value=300)),
    broken=st.booleans(),
    failure_limit=st.integers(min_value=0, max_value=2),
)
def test_driven_only_by_wakeups_and_events_a_rollout_misses_no_transition(
    verdicts: list[str], interval: int, pause: int | None, broken: bool, failure_limit: int
) -> None:
    """A whole rollout driven only at the moments the operator would look: after each
    decision's own echo, and at each wake-up. It must end as a ticking operator's would
    (promoted, or rolled back), and never be wrong in between."""
    first: dict[str, Any] = {"weight": 20}
    if pause:
        first["pause"] = f"{pause}s"
    options: dict[str, Any] = {
        "interval": f"{interval}s",
        "steps": [first, {"weight": 60}],
        "failureLimit": failure_limit,
        "progressDeadline": "5m",
    }
    sim = Sim(make_spec(**options))
    sim.deploy_stable()
    sim.change("v2", "r2", **options)
    if broken:
        sim.broken.add("r2")
    sim.step()
    pending = list(verdicts)
    # Enough looks for the longest pause at the shortest interval, and the deadlines after.
    for _ in range(1000):
        settle(sim)
        assert_quiet_until_wakeup(sim)
        wake = next_wakeup(sim.spec, sim.status, sim.now)
        if wake is None:
            break
        seconds = (wake - sim.now).total_seconds()
        due = analysis_due(sim.spec, sim.status, wake)
        verdict = (pending.pop(0) if pending else PASS) if due else None
        sim.step(seconds=seconds, verdict=verdict)
    settle(sim)
    outcome = sim.status.phase
    if broken:
        assert outcome == "RolledBack"
        assert sim.status.rolled_back.cause == "ProgressDeadlineExceeded"
    else:
        assert sim.status.stable.revision == "r2" or outcome == "RolledBack"
