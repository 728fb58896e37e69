"""The gate before any client traffic: schema comparison and smoke test, for a canary and for a
first deploy, driven through `decide` as the shell drives it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import read_commands
from modeldeploy.api.status import ModelDeploymentStatus, PreflightStatus, SmokeFailure
from modeldeploy.rollout import ERROR, FAIL, PASS, Preflight, PreflightRecord
from modeldeploy.rollout import preflight as gate
from tests.unit.test_rollout_canary import Sim, make_spec

SMOKE = {
    "requests": [
        {
            "name": "class-0",
            "inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0, 0]}],
            "expect": {"labels": ["0"]},
        }
    ]
}
SCHEMA_CHANGED = Preflight(
    FAIL,
    "the new model's schema differs: input input-0 was removed or renamed",
    cause=gate.INCOMPATIBLE_SCHEMA,
    record=PreflightRecord(schema_changes=["input input-0 was removed or renamed"]),
)
SMOKE_FAILED = Preflight(
    FAIL,
    "0/1 smoke requests passed (needed 100%); class-0: expected labels ['0'], got [2]",
    cause=gate.SMOKE_TEST_FAILED,
    record=PreflightRecord(
        smoke_passed=0,
        smoke_total=1,
        failures=[SmokeFailure(request="class-0", expected="['0']", got="[2]")],
    ),
)
UNREACHABLE = Preflight(ERROR, "no answer from the new revision's pods: connection refused")


def preflight_of(status: ModelDeploymentStatus) -> PreflightStatus | None:
    return status.rollout.preflight if status.rollout is not None else None


def canary_sim(found: Preflight, **rollout: Any) -> Sim:
    sim = Sim(make_spec(**rollout))
    sim.deploy_stable()
    sim.preflight = found
    sim.change("v2", "r2", **rollout)
    return sim


def test_a_canary_gets_no_weight_and_no_client_traffic_until_its_preflight_passes() -> None:
    sim = canary_sim(SCHEMA_CHANGED)
    sim.preflight = Preflight(PASS, "schema unchanged")
    # Ready canary pods, preflight not yet run: held at weight 0, clients on stable only.
    held = sim.run_until(lambda d: preflight_of(d.status) is not None)
    assert held.status.rollout.preflight.phase == "Pending"
    assert held.weight == 0 and held.client_revisions == ["r1"]
    assert "before any traffic" in held.status.message
    assert held.status.rollout.step_ready_at is None
    passed = sim.step(seconds=0)
    assert passed.status.rollout.preflight.phase == "Passed"
    assert [e.reason for e in passed.events][:1] == ["PreflightPassed"]
    assert passed.weight == 10


def test_an_incompatible_schema_rolls_back_before_any_weight() -> None:
    sim = canary_sim(SCHEMA_CHANGED)
    rolled_back = sim.run_until(lambda d: d.status.phase == "RolledBack")
    assert all(d.weight == 0 for d in sim.decisions)
    assert all(d.client_revisions == ["r1"] for d in sim.decisions)
    failed = rolled_back.status.rolled_back
    assert failed.cause == "IncompatibleSchema"
    assert failed.preflight.schema_changes == ["input input-0 was removed or renamed"]
    assert failed.preflight.phase == "Failed"
    assert "input input-0 was removed" in rolled_back.status.message
    assert rolled_back.replicas["r2"] == 0


def test_a_failed_smoke_test_rolls_back_and_says_what_came_back() -> None:
    sim = canary_sim(SMOKE_FAILED, smokeTest=SMOKE)
    rolled_back = sim.run_until(lambda d: d.status.phase == "RolledBack")
    assert all(d.weight == 0 for d in sim.decisions)
    failed = rolled_back.status.rolled_back
    assert failed.cause == "SmokeTestFailed"
    assert failed.preflight.failures[0].got == "[2]"
    assert "class-0" in failed.reason


def test_unreachable_pods_are_tried_again_then_rolled_back_past_the_limit() -> None:
    sim = canary_sim(UNREACHABLE, inconclusiveLimit=2)
    sim.run_until(lambda d: preflight_of(d.status) is not None)
    tries = []
    for _ in range(40):
        decision = sim.step(seconds=1)
        if any(e.reason == "PreflightError" for e in decision.events):
            tries.append(sim.now)
        if decision.status.phase == "RolledBack":
            break
    assert len(tries) == 2
    assert (tries[1] - tries[0]).total_seconds() >= gate.RETRY_S
    assert sim.status.rolled_back.cause == "PreflightUnreachable"
    assert all(d.weight == 0 for d in sim.decisions)


def test_an_intended_schema_change_without_smoke_test_skips_the_preflight() -> None:
    sim = canary_sim(SCHEMA_CHANGED, schemaChange="Allow")
    sim.run_until(lambda d: d.weight == 10)
    assert all(preflight_of(d.status) is None for d in sim.decisions)


def test_a_first_deploy_becomes_stable_only_after_its_smoke_test() -> None:
    sim = Sim(make_spec(smokeTest=SMOKE))
    sim.preflight = Preflight(
        PASS, "1/1 smoke requests passed", record=PreflightRecord(smoke_passed=1)
    )
    pending = sim.run_until(lambda d: preflight_of(d.status) is not None)
    assert pending.status.phase == "Progressing"
    assert pending.status.stable is None
    # Its pods are Ready, yet no client reaches them before the smoke test passed.
    assert all(d.client_revisions == [] for d in sim.decisions)
    ready = sim.step(seconds=0)
    assert ready.status.phase == "Ready"
    assert ready.client_revisions == ["r1"]
    assert ready.status.rollout is None
    assert ready.status.stable.revision == "r1"


def test_a_first_deploy_that_fails_its_smoke_test_never_becomes_ready() -> None:
    sim = Sim(make_spec(smokeTest=SMOKE))
    sim.preflight = SMOKE_FAILED
    failed = sim.run_until(lambda d: d.status.phase == "Failed")
    assert failed.replicas == {"r1": 0}
    assert failed.status.stable is None
    assert all(d.client_revisions == [] for d in sim.decisions)
    assert failed.status.rolled_back.cause == "SmokeTestFailed"
    assert any(e.reason == "SmokeTestFailed" for e in failed.events)
    conditions = {c.type: c for c in failed.status.conditions}
    assert conditions["Ready"].status == "False"
    assert conditions["Stalled"].status == "True"
    # It stays failed until a person retries; a retry runs the smoke test again.
    assert sim.step(seconds=30).status.phase == "Failed"
    sim.preflight = Preflight(PASS, "1/1 smoke requests passed")
    retry = read_commands({"modeldeploy.io/retry": "retry@1"}, sim.status)
    sim.step(commands=retry)
    assert sim.run_until(lambda d: d.status.phase == "Ready").status.stable.revision == "r1"


@settings(max_examples=60, deadline=None)
@given(
    verdict=st.sampled_from([PASS, FAIL, ERROR]),
    smoke=st.booleans(),
    schema_change=st.sampled_from(["Refuse", "Allow"]),
)
def test_no_decision_gives_weight_to_a_canary_whose_preflight_has_not_passed(
    verdict: str, smoke: bool, schema_change: str
) -> None:
    rollout: dict[str, Any] = {"schemaChange": schema_change, "inconclusiveLimit": 1}
    if smoke:
        rollout["smokeTest"] = SMOKE
    found = Preflight(verdict, f"preflight {verdict}", cause=gate.SMOKE_TEST_FAILED)
    sim = canary_sim(found, **rollout)
    sim.run_until(lambda d: d.status.phase in ("RolledBack", "Ready"), limit=400)
    needed = smoke or schema_change == "Refuse"
    for decision in sim.decisions:
        record = preflight_of(decision.status)
        if needed and decision.weight > 0:
            assert record is not None and record.phase == "Passed"
    if needed and verdict != PASS:
        assert sim.status.phase == "RolledBack"
        assert all(d.weight == 0 for d in sim.decisions)
    else:
        assert sim.status.stable.revision == "r2"


def test_a_spec_change_mid_ramp_runs_the_new_revisions_preflight() -> None:
    """The new rollout carries none of the one it replaced: not its passed preflight, not its
    step's readiness. Status goes through a merge patch, which keeps what it does not name."""
    sim = canary_sim(Preflight(PASS, "schema unchanged"), smokeTest=SMOKE)
    sim.run_until(lambda d: d.weight > 0)
    assert sim.status.rollout.preflight.phase == "Passed"
    sim.preflight = SMOKE_FAILED
    sim.change("v3", "r3", smokeTest=SMOKE)
    changed = sim.step()
    assert changed.weight == 0 and changed.client_revisions == ["r1"]
    assert "preflight" not in sim.stored["rollout"]
    assert not sim.stored["rollout"].get("stepReadyAt")
    assert sim.status.rollout.preflight is None
    failed = sim.run_until(lambda d: d.status.phase == "RolledBack")
    assert failed.status.rolled_back.cause == gate.SMOKE_TEST_FAILED
    assert all(
        d.weight == 0
        for d in sim.decisions[-(len(sim.decisions) - 1) :]
        if d.canary_revision == "r3"
    )


def test_a_promote_before_the_preflight_passed_is_refused_and_said_so() -> None:
    for how in ("step", "full"):
        for strategy in ({}, {"strategy": "blueGreen"}):
            sim = canary_sim(Preflight(PASS, "schema unchanged"), smokeTest=SMOKE, **strategy)
            sim.run_until(
                lambda d: (found := preflight_of(d.status)) is not None and found.phase == "Pending"
            )
            sim.preflight = UNREACHABLE  # the preflight cannot finish while the promote comes
            promote = read_commands({"modeldeploy.io/promote": f"{how}@1"}, sim.status)
            refused = sim.step(commands=promote)
            assert refused.weight == 0 and refused.client_revisions == ["r1"], (how, strategy)
            assert refused.status.stable.revision == "r1"
            assert refused.status.rollout.step == 0
            assert [e.reason for e in refused.events if e.reason == "PromoteRefused"]
            # The command is handled: it does not come back to promote later on its own.
            assert refused.status.handled_commands["promote"] == f"{how}@1"


def test_a_new_canary_in_its_preflight_gets_no_client_while_a_promotion_fills_up() -> None:
    """Promoted v2 fills up beside v1 (both serve clients, so the client Service selects the
    model's pods by name alone) when v3 arrives: v3's pods must not be among them."""
    sim = canary_sim(Preflight(PASS, "schema unchanged"), smokeTest=SMOKE)
    sim.run_until(lambda d: d.status.stable.revision == "r2")
    sim.ready_cap["r2"] = sim.ready["r2"] = 2
    filling = sim.step(seconds=0)
    assert sorted(filling.client_revisions) == ["r1", "r2"]
    sim.change("v3", "r3", smokeTest=SMOKE)
    sim.preflight = SMOKE_FAILED
    for _ in range(6):
        decision = sim.step()
        if decision.replicas.get("r3", 0) > 0:
            assert decision.client_revisions == ["r2"]
