"""Approval by a group: who may write the promote annotation where a policy names approvers,
and which promote the operator honours."""

from __future__ import annotations

from typing import Any

from modeldeploy.api.commands import APPROVED_BY, PROMOTE, Commands, read_commands
from modeldeploy.api.policy import parse_policy_spec
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.policy.approval import approval_refusal, honoured
from modeldeploy.policy.select import Policy

POLICY = Policy(
    name="prod",
    generation=1,
    spec=parse_policy_spec(
        {"rules": {"approvers": {"groups": ["release-managers"], "users": ["ops-bot"]}}}
    ),
)
OPEN = Policy(name="open", generation=1, spec=parse_policy_spec({}))


def body(**annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "iris", "annotations": annotations}, "spec": {}}


def user(name: str, *groups: str) -> dict[str, Any]:
    return {"username": name, "groups": ["system:authenticated", *groups]}


def test_the_author_may_not_approve_where_a_policy_names_approvers() -> None:
    new = body(**{PROMOTE: "step@1", APPROVED_BY: "alice"})
    refusal = approval_refusal(new, body(), POLICY, user("alice"))
    assert refusal == (
        "policy prod, rule approvers: alice may not approve rollouts here (modeldeploy.io/promote"
        ", modeldeploy.io/approved-by); approvers: groups release-managers; users ops-bot"
    )
    assert approval_refusal(new, body(), OPEN, user("alice")) is None
    assert approval_refusal(new, body(), None, user("alice")) is None


def test_an_approver_by_group_or_name_may_and_must_name_themselves() -> None:
    signed = body(**{PROMOTE: "step@1", APPROVED_BY: "bob"})
    assert approval_refusal(signed, body(), POLICY, user("bob", "release-managers")) is None
    by_name = body(**{PROMOTE: "full@2", APPROVED_BY: "ops-bot"})
    assert approval_refusal(by_name, body(), POLICY, user("ops-bot")) is None
    unsigned = body(**{PROMOTE: "step@1"})
    refusal = approval_refusal(unsigned, body(), POLICY, user("bob", "release-managers"))
    assert refusal is not None and f"set {APPROVED_BY}=bob beside {PROMOTE}" in refusal
    forged = body(**{PROMOTE: "step@1", APPROVED_BY: "carol"})
    assert approval_refusal(forged, body(), POLICY, user("bob", "release-managers")) is not None


def test_a_name_changed_alone_is_an_approval_too_and_other_writes_are_not() -> None:
    before = body(**{PROMOTE: "step@1", APPROVED_BY: "bob"})
    renamed = body(**{PROMOTE: "step@1", APPROVED_BY: "alice"})
    assert approval_refusal(renamed, before, POLICY, user("alice")) is not None
    # Labels, other annotations, and taking the approval away need no approver.
    other = body(**{PROMOTE: "step@1", APPROVED_BY: "bob", "modeldeploy.io/paused": "true"})
    assert approval_refusal(other, before, POLICY, user("alice")) is None
    assert approval_refusal(body(), before, POLICY, user("alice")) is None


def test_the_operator_honours_a_promote_only_beside_its_approver_s_name() -> None:
    status = ModelDeploymentStatus()
    unsigned = {PROMOTE: "step@1"}
    commands, why = honoured(read_commands(unsigned, status), unsigned, POLICY)
    assert commands.promote is None and "promote" not in commands.tokens
    assert why is not None and "policy prod names approvers" in why
    signed = {PROMOTE: "step@1", APPROVED_BY: "bob"}
    commands, why = honoured(read_commands(signed, status), signed, POLICY)
    assert commands.promote == "step" and commands.tokens == {"promote": "step@1"} and why is None
    assert honoured(read_commands(unsigned, status), unsigned, OPEN)[0].promote == "step"
    assert honoured(Commands(), {}, POLICY) == (Commands(), None)
