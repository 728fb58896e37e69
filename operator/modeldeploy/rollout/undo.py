"""People's commands that act on the whole object (retry, undo) and the previous stable kept
for undo."""

from __future__ import annotations

from modeldeploy.api.commands import Commands
from modeldeploy.api.status import RolledBackStatus
from modeldeploy.rollout.state import (
    PHASE_PROGRESSING,
    Draft,
    rollback_window_s,
    scale_down_delay_s,
    seconds_since,
)


def handle_retry(draft: Draft, commands: Commands) -> None:
    if not commands.retry:
        return
    if draft.rolled_back is not None and draft.rolled_back.revision == draft.revision:
        draft.emit("Normal", "Retry", f"retrying revision {draft.revision} as asked")
        draft.rolled_back = None
    else:
        draft.emit(
            "Warning", "RetryIgnored", "nothing to retry: the spec's revision was not rolled back"
        )


def handle_undo(draft: Draft, commands: Commands) -> None:
    """Back to the previous stable, never through an outage: a previous revision already at
    zero is brought up and Ready first, and only then takes the traffic back."""
    previous = draft.previous
    pending = undo_pending(draft)
    if commands.undo and not pending:
        window = rollback_window_s(draft.spec)
        if (
            previous is None
            or draft.stable is None
            or seconds_since(draft.promoted_at, draft.now) > window
        ):
            draft.emit(
                "Warning", "UndoUnavailable", "no previous revision within the rollback window"
            )
            return
        if draft.observed.ready(previous.revision) < draft.spec.replicas:
            previous.undo_requested_at = draft.now_iso
            draft.emit(
                "Normal",
                "UndoStarted",
                f"bringing {previous.revision} ({previous.version}) up to "
                f"{draft.spec.replicas} ready replicas before it takes the traffic back",
            )
            return
        _swap_back(draft)
    elif (
        pending
        and previous is not None
        and draft.observed.ready(previous.revision) >= draft.spec.replicas
    ):
        _swap_back(draft)


def _swap_back(draft: Draft) -> None:
    assert draft.previous is not None and draft.stable is not None
    previous = draft.previous
    undone = draft.stable
    draft.emit(
        "Warning",
        "Undone",
        f"revision {undone.revision} ({undone.version}) undone as asked; "
        f"serving {previous.revision} ({previous.version}) again",
    )
    draft.record(undone.revision, undone.version, "Undone", "undone as asked")
    previous.undo_requested_at = None
    previous.since = draft.now_iso
    draft.stable = previous
    draft.previous = None
    draft.promoted_at = None
    draft.rollout = None
    draft.rolled_back = RolledBackStatus(
        revision=undone.revision, version=undone.version, reason="undone as asked", at=draft.now_iso
    )


def undo_pending(draft: Draft) -> bool:
    return draft.previous is not None and bool(draft.previous.undo_requested_at)


def keep_previous(draft: Draft) -> None:
    """The last stable stays warm for `scaleDownDelay`, then at zero until `rollbackWindow` ends;
    an undo under way brings it to full size, whatever the time."""
    previous = draft.previous
    if previous is None or draft.stable is None or previous.revision == draft.stable.revision:
        draft.previous = None
        return
    if undo_pending(draft):
        draft.replicas[previous.revision] = draft.spec.replicas
        ready = draft.observed.ready(previous.revision)
        draft.phase = PHASE_PROGRESSING
        draft.message = (
            f"undo: {ready}/{draft.spec.replicas} replicas of {previous.revision} "
            f"({previous.version}) ready; {draft.stable.revision} serves until they are"
        )
        return
    age = seconds_since(draft.promoted_at, draft.now)
    if age > rollback_window_s(draft.spec):
        draft.previous = None
        return
    if previous.revision in draft.replicas:
        return
    warm = age < scale_down_delay_s(draft.spec)
    draft.replicas[previous.revision] = previous.replicas if warm else 0
