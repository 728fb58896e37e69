"""Is a ModelDeployment done with the spec it has now, and how did it end? Pure: the object in,
a verdict out, which `kubectl modeldeploy status --wait` turns into its exit code.

Done means for the spec's current generation, as the operator has seen it:

- Ready (exit 0): the spec's revision is the stable one and serves with all its replicas, no
  rollout or undo under way;
- RolledBack, Degraded, Failed (exit 1): the spec's revision will not serve without a change:
  rolled back (or undone), the stable's replicas unavailable past the progress deadline, or a
  spec the operator refuses or whose first deploy failed.

Paused and AwaitingApproval are not done: as `kubectl argo rollouts status` waits on a paused
Rollout, the verdict says what the rollout waits for (a resume, a promote) and waiting goes on
until the rollout ends or the timeout. Nor is a status the operator wrote before it saw the
spec's generation, or before it acted on a one-shot command (promote, abort, retry, undo)
written since: `retry` then `status --wait` waits for the retry, not for the rollback it
would otherwise read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modeldeploy.api.commands import PAUSED, read_commands
from modeldeploy.api.status import ModelDeploymentStatus, parse_status_leniently

EXIT_READY = 0
EXIT_UNHEALTHY = 1
"""Rolled back (or undone), Degraded or Failed: as `kubectl argo rollouts status` exits 1 for a
Degraded (or aborted) Rollout."""
EXIT_TIMEOUT = 2
"""`--timeout` passed first. Argo Rollouts exits 1 here too; a separate code lets CI tell a
rollout that failed from one that is still going."""
EXIT_ERROR = 3
"""The command could not run: bad arguments, no kubeconfig, the object missing or deleted,
no permission, the cluster unreachable."""

READY = "Ready"
ROLLED_BACK = "RolledBack"
DEGRADED = "Degraded"
FAILED = "Failed"
PAUSED_PHASE = "Paused"
AWAITING_APPROVAL = "AwaitingApproval"
PROGRESSING = "Progressing"
UNKNOWN = "Unknown"

UNHEALTHY = (ROLLED_BACK, DEGRADED, FAILED)
# The reason of the Degraded condition when a first deploy failed: the operator still acts on
# commands then (a retry). Any other Failed is a spec it refuses, and acts on none.
_FIRST_DEPLOY_FAILED = "FirstDeployFailed"


@dataclass(frozen=True)
class Verdict:
    state: str
    """The phase; Progressing while the operator has not caught up; Unknown when unreadable."""
    message: str
    done: bool
    exit_code: int | None
    """EXIT_READY or EXIT_UNHEALTHY once done; None while not."""

    def line(self) -> str:
        """One readable line, `State - message`, as `kubectl argo rollouts status` prints."""
        text = " ".join(self.message.split())
        return f"{self.state} - {text}" if text else self.state


def judge(body: Mapping[str, Any]) -> Verdict:
    """The verdict on a ModelDeployment as the API server returns it."""
    meta = body.get("metadata") or {}
    try:
        status, _unknown = parse_status_leniently(body.get("status"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "status"
        return Verdict(UNKNOWN, f"the status cannot be read: {where}: {first['msg']}", False, None)
    generation = meta.get("generation")
    return judge_status(
        str(meta.get("name", "")),
        generation if isinstance(generation, int) else None,
        dict(meta.get("annotations") or {}),
        status,
    )


def judge_status(
    name: str,
    generation: int | None,
    annotations: Mapping[str, str],
    status: ModelDeploymentStatus,
) -> Verdict:
    """The verdict on a status, for the spec's `generation` and the object's annotations."""
    phase = status.phase
    observed = status.observed_generation
    if phase is None:
        return _going(PROGRESSING, "waiting for the operator to take it up")
    if generation is not None and (observed is None or observed < generation):
        seen = f" (it has seen {observed})" if observed is not None else ""
        return _going(
            PROGRESSING, f"waiting for the operator to observe generation {generation}{seen}"
        )
    pending = read_commands(dict(annotations), status).tokens
    if pending and not _refused(status):
        return _going(phase, f"waiting for the operator to act on {', '.join(sorted(pending))}")
    message = status.message or ""
    if phase == READY:
        if _serving_the_spec(status):
            return Verdict(READY, message, True, EXIT_READY)
        return _going(PROGRESSING, message)
    if phase in UNHEALTHY:
        return Verdict(phase, message, True, EXIT_UNHEALTHY)
    if phase == PAUSED_PHASE:
        if str(annotations.get(PAUSED, "")).lower() != "true":
            return _going(phase, _joined(message, "resumed; waiting for the operator to go on"))
        return _going(phase, _hinted(message, "a resume", f"kubectl modeldeploy resume {name}"))
    if phase == AWAITING_APPROVAL:
        return _going(phase, _hinted(message, "an approval", f"kubectl modeldeploy promote {name}"))
    return _going(phase, message)


def exit_code_now(verdict: Verdict) -> int:
    """The exit code of `status` without `--wait`: 1 for a rollout that ended unhealthy (as
    `kubectl argo rollouts status --watch=false` fails on a Degraded Rollout), else 0."""
    return EXIT_UNHEALTHY if verdict.exit_code == EXIT_UNHEALTHY else EXIT_READY


def _going(state: str, message: str) -> Verdict:
    return Verdict(state, message, False, None)


def _joined(message: str, extra: str) -> str:
    return f"{message}; {extra}" if message else extra


def _hinted(message: str, what: str, command: str) -> str:
    """The operator's message, with the command that moves the rollout on unless it has it."""
    if command in message:
        return message
    return _joined(message, f"waiting for {what}: {command}")


def _serving_the_spec(status: ModelDeploymentStatus) -> bool:
    stable = status.stable
    return (
        stable is not None
        and (status.revision is None or stable.revision == status.revision)
        and status.rollout is None
        and status.canary is None
        and not (status.previous is not None and status.previous.undo_requested_at)
    )


def _refused(status: ModelDeploymentStatus) -> bool:
    """A spec the operator refuses (invalid, or against a policy): it acts on no command."""
    return status.phase == FAILED and not any(
        c.reason == _FIRST_DEPLOY_FAILED for c in status.conditions
    )
