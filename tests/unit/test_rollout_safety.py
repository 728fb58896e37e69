"""The rollout's safety promises as properties over generated histories.

A history is any sequence of what happens to a ModelDeployment: spec changes at any moment
(to a revision that fails its preflight, and back), promote / pause / resume / abort / undo /
retry at any moment, operator restarts, pods becoming ready or crashing, and check results.
Status goes through the API server's merge patch between decisions. In every state reached:

- no client weight, and no pod behind the client Service or a track Service a route sends to,
  for a revision whose preflight has not passed;
- a promote never skips a preflight;
- pause holds every phase: no step advances, no shadow ends, no promotion and no first weight
  without a person's promote;
- no step is skipped or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modeldeploy.api.commands import Commands
from modeldeploy.api.observed import Crash
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import (
    ERROR,
    FAIL,
    INCONCLUSIVE,
    PASS,
    Decision,
    Preflight,
    PreflightRecord,
)
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
OUTCOMES = {
    "pass": Preflight(PASS, "schema unchanged; 1/1 smoke requests passed"),
    "fail": Preflight(
        FAIL,
        "0/1 smoke requests passed",
        cause=gate.SMOKE_TEST_FAILED,
        record=PreflightRecord(smoke_total=1),
    ),
    "unreachable": Preflight(ERROR, "no answer from the new revision's pods"),
}
REVISIONS = {"v1": "r1", "v2": "r2", "v3": "r3"}
HOLDING = ("StepAdvanced", "Promoted", "ShadowPassed")


@dataclass(frozen=True)
class Setup:
    strategy: str
    router: str
    shadow: bool
    approval: bool
    replicas: int
    outcomes: dict[str, str]
    """Revision → what its preflight finds whenever it runs."""

    def spec_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "smokeTest": SMOKE,
            "steps": [
                # A pause keeps generated histories mid-ramp often enough to change course there.
                {"weight": 10, "pause": "1m"},
                {"weight": 50, **({"approval": "required"} if self.approval else {})},
            ],
            "router": self.router,
            "inconclusiveLimit": 2,
        }
        if self.strategy == "blueGreen":
            options["strategy"] = "blueGreen"
            options["blueGreen"] = {"previewDuration": "20s"}
        if self.shadow:
            options["shadow"] = {"percent": 20, "duration": "30s", "minAgreement": 0.9}
        return options


setups = st.builds(
    Setup,
    strategy=st.sampled_from(["canary", "blueGreen"]),
    router=st.sampled_from(["replicas", "gateway-api"]),
    shadow=st.booleans(),
    approval=st.booleans(),
    replicas=st.sampled_from([1, 2, 4]),
    outcomes=st.fixed_dictionaries(
        {
            "r1": st.just("pass"),
            "r2": st.sampled_from(list(OUTCOMES)),
            "r3": st.sampled_from(list(OUTCOMES)),
        }
    ),
)

actions = st.one_of(
    st.tuples(
        st.just("tick"),
        st.sampled_from([1, 1, 5, 11, 31]),
        st.sampled_from([None, None, PASS, PASS, FAIL, INCONCLUSIVE]),
    ),
    st.tuples(st.just("spec"), st.sampled_from(list(REVISIONS))),
    st.tuples(st.just("promote"), st.sampled_from(["step", "full"])),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("abort")),
    st.tuples(st.just("undo")),
    st.tuples(st.just("retry")),
    st.tuples(st.just("restart")),
    st.tuples(st.just("ready"), st.sampled_from(list(REVISIONS.values())), st.integers(0, 4)),
    st.tuples(st.just("crash"), st.sampled_from(list(REVISIONS.values()))),
)


@dataclass
class World:
    """A Sim driven by a history, and what the promises are judged against."""

    setup: Setup
    sim: Sim = field(init=False)
    paused: bool = False
    passed: set[str] = field(default_factory=set)
    """Revisions whose preflight passed in the rollout (or first deploy) now under way."""
    ever_stable: set[str] = field(default_factory=set)
    tokens: int = 0
    was_paused: bool = False
    """Whether the decision before this one was already taken paused."""

    def __post_init__(self) -> None:
        options = self.setup.spec_options()
        self.sim = Sim(make_spec(replicas=self.setup.replicas, **options))

    def change(self, version: str) -> None:
        options = self.setup.spec_options()
        self.sim.change(version, REVISIONS[version], replicas=self.setup.replicas, **options)

    def command(self, verb: str, value: str) -> Commands:
        self.tokens += 1
        kwargs: dict[str, Any] = {verb: value if verb == "promote" else True}
        return Commands(paused=self.paused, tokens={verb: f"{value}@{self.tokens}"}, **kwargs)

    def decide(
        self, seconds: float = 1.0, verdict: str | None = None, commands: Commands | None = None
    ) -> Decision:
        sim = self.sim
        commands = commands or Commands(paused=self.paused)
        sim.preflight = OUTCOMES[self.setup.outcomes[sim.revision]]
        before = sim.status
        decision = sim.step(seconds=seconds, verdict=verdict, commands=commands)
        # What the preflight found is handed in only when one was pending for the spec's
        # revision; the Sim hands its outcome whenever `due` says so at the decision's moment.
        handed = gate.due(before, sim.revision, sim.now)
        attempt_before = _attempt(before)
        attempt_after = _attempt(decision.status)
        if attempt_after is not None and attempt_after != attempt_before:
            self.passed.discard(attempt_after[0])
        if handed and sim.preflight.verdict == PASS:
            self.passed.add(sim.revision)
        self.judge(before, decision, commands)
        if decision.stable_revision is not None:
            self.ever_stable.add(decision.stable_revision)
        return decision

    def judge(self, before: ModelDeploymentStatus, decision: Decision, commands: Commands) -> None:
        vetted = self.passed | self.ever_stable
        context = (
            f"before: {before.phase} {before.rollout}\n"
            f"after: {decision.status.phase} {decision.status.rollout}\n"
            f"weight {decision.weight}, clients {decision.client_revisions}, "
            f"replicas {decision.replicas}, events {[e.reason for e in decision.events]}"
        )
        if decision.weight > 0:
            assert decision.canary_revision in vetted, f"weight to an unvetted canary\n{context}"
        for revision in decision.client_revisions:
            assert revision in vetted, f"client Service on unvetted {revision}\n{context}"
        if len(decision.client_revisions) > 1:
            # The client Service then selects every pod of the model.
            for revision, replicas in decision.replicas.items():
                if replicas > 0:
                    assert revision in vetted, f"unvetted {revision} pods serve\n{context}"
        if decision.stable_revision is not None:
            assert decision.stable_revision in vetted, f"unvetted stable\n{context}"
        reasons = [event.reason for event in decision.events]
        if "Promoted" in reasons:
            assert decision.stable_revision in self.passed | self.ever_stable
        if commands.paused and self.was_paused and commands.promote is None:
            held = [reason for reason in reasons if reason in HOLDING]
            assert not held, f"paused, yet {held}\n{context}"
            old_state = before.rollout
            new_state = decision.status.rollout
            if _attempt(before) == _attempt(decision.status) and old_state is not None:
                assert new_state is not None
                assert not ((before.weight or 0) == 0 and decision.weight > 0), (
                    f"paused, yet a first weight\n{context}"
                )
                assert new_state.step == old_state.step, context
        old_state = before.rollout
        new_state = decision.status.rollout
        same_attempt = _attempt(before) == _attempt(decision.status)
        if same_attempt and old_state is not None and old_state.step is not None:
            assert new_state is not None
            moved = (new_state.step or 0) - old_state.step
            assert moved in (0, 1), f"step moved by {moved}\n{context}"
            assert reasons.count("StepAdvanced") == moved, context

    def run(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        sim = self.sim
        if kind == "tick":
            self.decide(seconds=action[1], verdict=action[2])
        elif kind == "spec":
            self.change(action[1])
            sim.crashes = {}
            self.decide()
        elif kind == "promote":
            self.decide(commands=self.command("promote", action[1]))
        elif kind == "pause":
            self.was_paused = self.paused
            self.paused = action[1]
            self.decide()
            self.was_paused = self.paused
            return
        elif kind in ("abort", "undo", "retry"):
            self.decide(commands=self.command(kind, kind))
        elif kind == "restart":
            # All state is in the status: a new process decides from it alone, at once.
            self.decide(seconds=0)
        elif kind == "ready":
            sim.ready_cap[action[1]] = action[2]
            self.decide()
        elif kind == "crash":
            sim.crashes = {action[1]: (Crash(f"m-{action[1]}-a", 1, "Error, exit code 137"),)}
            self.decide()
        self.was_paused = self.paused


def _attempt(status: ModelDeploymentStatus) -> tuple[str, str] | None:
    state = status.rollout
    if state is None:
        return None
    return (state.revision, state.started_at)


MID_RAMP_CHANGE = [
    ("spec", "v2"),
    ("tick", 11, PASS),
    ("tick", 11, PASS),
    ("tick", 11, PASS),
    ("spec", "v3"),
    ("tick", 11, PASS),
]


@settings(
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(
    setup=Setup("canary", "replicas", False, True, 4, {"r1": "pass", "r2": "pass", "r3": "fail"}),
    history=[(action, 1) for action in MID_RAMP_CHANGE],
)
@given(
    setup=setups,
    history=st.lists(st.tuples(actions, st.integers(0, 4)), min_size=8, max_size=40),
)
def test_every_history_keeps_the_rollouts_promises(
    setup: Setup, history: list[tuple[tuple[Any, ...], int]]
) -> None:
    world = World(setup)
    # A first deploy, then the history; after each action, time passes for a few decisions.
    for _ in range(6):
        world.decide()
    for action, later in history:
        world.run(action)
        for _ in range(later):
            world.decide(seconds=11)
