"""`status --wait`'s judgement: is a ModelDeployment's status done for the spec's current
generation, and with which exit code. Pure: statuses in, verdicts out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api.commands import ONE_SHOT, PAUSED, read_commands
from modeldeploy.api.status import (
    Condition,
    ModelDeploymentStatus,
    RevisionStatus,
    RolloutState,
)
from modeldeploy.tools.verdict import (
    EXIT_ERROR,
    EXIT_READY,
    EXIT_TIMEOUT,
    EXIT_UNHEALTHY,
    Verdict,
    exit_code_now,
    judge,
    judge_status,
)
from tests.unit.test_rollout_canary import Sim, make_spec

PHASES = [
    "Progressing",
    "Ready",
    "Shadow",
    "Canary",
    "Preview",
    "Paused",
    "AwaitingApproval",
    "RolledBack",
    "Degraded",
    "Failed",
]


def track(revision: str, version: str = "v", **fields: Any) -> RevisionStatus:
    return RevisionStatus(
        revision=revision, version=version, deployment=f"iris-{revision}", **fields
    )


def serving(**fields: Any) -> ModelDeploymentStatus:
    """The status of a revision r2 that serves with all its replicas."""
    values: dict[str, Any] = {
        "observed_generation": 2,
        "phase": "Ready",
        "message": "4/4 replicas of r2 (v2) ready",
        "revision": "r2",
        "stable": track("r2", "v2", replicas=4, ready_replicas=4),
    }
    values.update(fields)
    return ModelDeploymentStatus(**values)


def verdict_of(
    status: ModelDeploymentStatus,
    generation: int | None = 2,
    annotations: dict[str, str] | None = None,
) -> Verdict:
    return judge_status("iris", generation, annotations or {}, status)


def test_the_exit_codes_are_distinct() -> None:
    assert len({EXIT_READY, EXIT_UNHEALTHY, EXIT_TIMEOUT, EXIT_ERROR}) == 4
    assert EXIT_READY == 0 and EXIT_UNHEALTHY == 1 and EXIT_TIMEOUT == 2


def test_the_spec_s_revision_serving_is_ready_with_0() -> None:
    verdict = verdict_of(serving())
    assert verdict == Verdict("Ready", "4/4 replicas of r2 (v2) ready", True, EXIT_READY)
    assert verdict.line() == "Ready - 4/4 replicas of r2 (v2) ready"


@pytest.mark.parametrize("phase", ["RolledBack", "Degraded", "Failed"])
def test_a_rollout_that_will_not_serve_without_a_change_ends_with_1(phase: str) -> None:
    verdict = verdict_of(serving(phase=phase, message="revision r2 (v2) was rolled back: 5xx"))
    assert verdict.done and verdict.exit_code == EXIT_UNHEALTHY
    assert verdict.line() == f"{phase} - revision r2 (v2) was rolled back: 5xx"
    assert exit_code_now(verdict) == EXIT_UNHEALTHY


@pytest.mark.parametrize("phase", ["Progressing", "Shadow", "Canary", "Preview", "Rolling", None])
def test_a_rollout_on_its_way_is_not_done(phase: str | None) -> None:
    verdict = verdict_of(serving(phase=phase, rollout=None))
    assert not verdict.done and verdict.exit_code is None
    assert exit_code_now(verdict) == EXIT_READY


def test_a_status_of_an_older_generation_is_not_done_whatever_it_says() -> None:
    for phase in PHASES:
        verdict = verdict_of(serving(phase=phase, observed_generation=1), generation=2)
        assert not verdict.done
        assert verdict.line() == (
            "Progressing - waiting for the operator to observe generation 2 (it has seen 1)"
        )
    never = verdict_of(serving(observed_generation=None), generation=2)
    assert never.line() == "Progressing - waiting for the operator to observe generation 2"


def test_an_object_the_operator_never_wrote_is_waiting_for_it() -> None:
    verdict = judge({"metadata": {"name": "iris", "generation": 1}})
    assert verdict == Verdict("Progressing", "waiting for the operator to take it up", False, None)


def test_paused_and_awaiting_approval_wait_for_a_person_and_say_for_what() -> None:
    paused = verdict_of(
        serving(phase="Paused", message="step 1 at 25%"), annotations={PAUSED: "true"}
    )
    assert not paused.done
    assert paused.line() == (
        "Paused - step 1 at 25%; waiting for a resume: kubectl modeldeploy resume iris"
    )
    resumed = verdict_of(serving(phase="Paused", message="step 1 at 25%"))
    assert not resumed.done
    assert resumed.line().endswith("resumed; waiting for the operator to go on")
    # The operator's message names the command already: not said twice.
    told = "step 1/2 at 25%; awaiting approval: kubectl modeldeploy promote iris"
    assert verdict_of(serving(phase="AwaitingApproval", message=told)).message == told
    approval = verdict_of(serving(phase="AwaitingApproval", message="step 1 at 25%"))
    assert not approval.done
    assert approval.line() == (
        "AwaitingApproval - step 1 at 25%; "
        "waiting for an approval: kubectl modeldeploy promote iris"
    )


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"stable": None}, "no stable revision"),
        ({"stable": track("r1", replicas=4, ready_replicas=4)}, "another revision is stable"),
        ({"canary": track("r3")}, "a canary"),
        ({"rollout": RolloutState(revision="r3", version="v3", started_at="t")}, "a rollout"),
        ({"previous": track("r1", undo_requested_at="t")}, "an undo under way"),
    ],
)
def test_ready_is_done_only_when_nothing_else_is_under_way(
    fields: dict[str, Any], why: str
) -> None:
    verdict = verdict_of(serving(**fields))
    assert not verdict.done, why
    assert verdict.state == "Progressing"


def test_a_status_that_names_no_revision_is_judged_by_its_stable() -> None:
    assert verdict_of(serving(revision=None)).exit_code == EXIT_READY


def test_a_command_the_operator_has_not_acted_on_holds_the_verdict() -> None:
    rolled_back = serving(phase="RolledBack", message="rolled back")
    pending = verdict_of(rolled_back, annotations={"modeldeploy.io/retry": "retry@2"})
    assert not pending.done
    assert pending.line() == "RolledBack - waiting for the operator to act on retry"
    handled = rolled_back.model_copy(update={"handled_commands": {"retry": "retry@2"}})
    assert verdict_of(handled, annotations={"modeldeploy.io/retry": "retry@2"}).exit_code == 1


def test_a_refused_spec_acts_on_no_command_so_one_does_not_hold_it() -> None:
    refused = serving(phase="Failed", message="invalid", conditions=[stalled("InvalidSpec")])
    assert verdict_of(refused, annotations={"modeldeploy.io/retry": "retry@2"}).exit_code == 1
    first_deploy = refused.model_copy(update={"conditions": [stalled("FirstDeployFailed")]})
    assert not verdict_of(first_deploy, annotations={"modeldeploy.io/retry": "retry@2"}).done


def test_an_unreadable_status_is_unknown_and_not_done() -> None:
    verdict = judge({"metadata": {"name": "iris"}, "status": {"phase": 3}})
    assert verdict.state == "Unknown" and not verdict.done
    assert verdict.line().startswith("Unknown - the status cannot be read: phase")


def test_a_field_of_another_operator_version_does_not_stop_the_judgement() -> None:
    body = {
        "metadata": {"name": "iris", "generation": 2},
        "status": {**serving().wire(), "newField": {"x": 1}},
    }
    assert judge(body).exit_code == EXIT_READY


def test_a_multi_line_message_is_one_line() -> None:
    verdict = verdict_of(serving(phase="Failed", message="spec invalid:\n  replicas: < 0"))
    assert verdict.line() == "Failed - spec invalid: replicas: < 0"


# --- every status there can be --------------------------------------------------------------

REVISIONS = st.sampled_from(["r1", "r2"])
TRACKS = st.none() | st.builds(
    track, REVISIONS, replicas=st.integers(0, 4), ready_replicas=st.integers(0, 4)
)


def rollout_of(revision: str) -> RolloutState:
    return RolloutState(revision=revision, version="v", started_at="t")


def stalled(reason: str) -> Condition:
    return Condition(type="Stalled", status="True", reason=reason, last_transition_time="t")


def status_of(**fields: Any) -> ModelDeploymentStatus:
    # Built by name: hypothesis would otherwise read the models' signatures by alias.
    return ModelDeploymentStatus(**fields)


CONDITIONS = st.lists(
    st.builds(stalled, st.sampled_from(["FirstDeployFailed", "InvalidSpec", "RolledBack"])),
    max_size=1,
)
ANY_STATUS = st.builds(
    status_of,
    observed_generation=st.none() | st.integers(1, 4),
    phase=st.none() | st.sampled_from([*PHASES, "SomethingNew"]),
    message=st.none() | st.text(max_size=30),
    revision=st.none() | REVISIONS,
    stable=TRACKS,
    canary=TRACKS,
    previous=st.none() | st.builds(track, REVISIONS, undo_requested_at=st.none() | st.just("t")),
    rollout=st.none() | st.builds(rollout_of, REVISIONS),
    handled_commands=st.none() | st.dictionaries(st.sampled_from(ONE_SHOT), st.just("x@1")),
    conditions=CONDITIONS,
)


def mostly(usual: Any, others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(usual), st.just(usual), others)


# Statuses close to a revision r2 serving at generation 2, each field now and then otherwise:
# where the verdicts change.
NEAR_SERVING = st.builds(
    status_of,
    observed_generation=mostly(2, st.none() | st.integers(1, 4)),
    phase=mostly("Ready", st.sampled_from(PHASES)),
    message=st.none() | st.text(max_size=30),
    revision=mostly("r2", st.none() | REVISIONS),
    stable=mostly(track("r2", replicas=4, ready_replicas=4), TRACKS),
    canary=mostly(None, TRACKS),
    previous=mostly(None, st.builds(track, REVISIONS, undo_requested_at=st.none() | st.just("t"))),
    rollout=mostly(None, st.builds(rollout_of, REVISIONS)),
    handled_commands=st.none() | st.dictionaries(st.sampled_from(ONE_SHOT), st.just("x@1")),
    conditions=CONDITIONS,
)
STATUSES = ANY_STATUS | NEAR_SERVING
ANNOTATIONS = st.dictionaries(
    st.sampled_from([PAUSED, *(f"modeldeploy.io/{verb}" for verb in ONE_SHOT), "other"]),
    st.sampled_from(["true", "x@1", "x@2"]),
)
GENERATIONS = mostly(2, st.none() | st.integers(1, 4))


def caught_up(status: ModelDeploymentStatus, generation: int | None) -> bool:
    observed = status.observed_generation
    return status.phase is not None and (
        generation is None or (observed is not None and observed >= generation)
    )


def refused(status: ModelDeploymentStatus) -> bool:
    return status.phase == "Failed" and all(
        c.reason != "FirstDeployFailed" for c in status.conditions
    )


@given(STATUSES, GENERATIONS, ANNOTATIONS)
def test_every_status_gets_one_line_and_an_exit_code_only_when_done(
    status: ModelDeploymentStatus, generation: int | None, annotations: dict[str, str]
) -> None:
    verdict = judge_status("iris", generation, annotations, status)
    assert verdict.done == (verdict.exit_code is not None)
    assert verdict.exit_code in (None, EXIT_READY, EXIT_UNHEALTHY)
    assert "\n" not in verdict.line() and verdict.line().startswith(verdict.state)
    # The same object as the API server returns it gets the same verdict.
    body = {
        "metadata": {"name": "iris", "annotations": annotations}
        | ({"generation": generation} if generation is not None else {}),
        "status": status.wire(),
    }
    assert judge(body) == verdict


@given(STATUSES, GENERATIONS, ANNOTATIONS)
def test_done_exactly_when_the_current_spec_ended_and_no_command_waits(
    status: ModelDeploymentStatus, generation: int | None, annotations: dict[str, str]
) -> None:
    verdict = judge_status("iris", generation, annotations, status)
    pending = bool(read_commands(annotations, status).tokens) and not refused(status)
    settled = caught_up(status, generation) and not pending
    stable = status.stable
    serving_spec = (
        status.phase == "Ready"
        and stable is not None
        and status.revision in (None, stable.revision)
        and status.rollout is None
        and status.canary is None
        and not (status.previous is not None and status.previous.undo_requested_at)
    )
    assert (verdict.exit_code == EXIT_READY) == (settled and serving_spec)
    unhealthy = status.phase in ("RolledBack", "Degraded", "Failed")
    assert (verdict.exit_code == EXIT_UNHEALTHY) == (settled and unhealthy)
    if not caught_up(status, generation):
        assert verdict.state == "Progressing"
    if status.phase in ("Paused", "AwaitingApproval"):
        assert not verdict.done
        if settled and status.phase == "AwaitingApproval":
            assert "kubectl modeldeploy promote iris" in verdict.line()


# --- the statuses the state machine writes --------------------------------------------------


def test_the_statuses_of_a_ramp_that_rolls_back_end_it_with_1() -> None:
    sim = Sim(make_spec(steps=[{"weight": 25}, {"weight": 50}]))
    sim.deploy_stable()
    assert judge_status("m", 1, {}, sim.status).exit_code == EXIT_READY
    sim.change("v2", "r2", steps=[{"weight": 25}, {"weight": 50}])
    # The new spec is generation 2, which the operator has not seen yet. (The simulated
    # operator records every spec as generation 1, so that is the one judged from here on.)
    verdicts = [judge_status("m", 2, {}, sim.status)]
    sim.run_until(lambda d: d.status.phase == "Canary")
    verdicts.append(judge_status("m", 1, {}, sim.status))
    sim.run_until(lambda d: d.status.phase == "RolledBack", verdict="Fail")
    verdicts.append(judge_status("m", 1, {}, sim.status))
    assert [(v.state, v.exit_code) for v in verdicts] == [
        ("Progressing", None),
        ("Canary", None),
        ("RolledBack", EXIT_UNHEALTHY),
    ]


def test_the_statuses_of_a_ramp_held_for_approval_end_it_with_0_once_promoted() -> None:
    steps: list[dict[str, Any]] = [{"weight": 25, "approval": "required"}, {"weight": 50}]
    sim = Sim(make_spec(steps=steps))
    sim.deploy_stable()
    sim.change("v2", "r2", steps=steps)
    sim.run_until(lambda d: d.status.phase == "AwaitingApproval")
    held = judge_status("m", 1, {}, sim.status)
    assert not held.done
    assert held.line().count("kubectl modeldeploy promote m") == 1, held.line()
    annotations = {"modeldeploy.io/promote": "full@1"}
    assert not judge_status("m", 1, annotations, sim.status).done
    sim.step(commands=read_commands(annotations, sim.status))
    sim.run_until(lambda d: d.status.phase == "Ready")
    assert judge_status("m", 1, annotations, sim.status).exit_code == EXIT_READY
