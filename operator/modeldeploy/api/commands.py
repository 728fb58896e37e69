"""Manual control through annotations, so that kubectl, the plugin and GitOps all speak alike.

`modeldeploy.io/paused` is a level ("true" holds the ramp). The others are one-shot commands:
their value is a token (the plugin writes `<verb>@<timestamp>`), and the operator records the
last token it acted on in `status.handledCommands`, so a command is carried out exactly once
however often the object is reconciled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modeldeploy.api.status import ModelDeploymentStatus

PREFIX = "modeldeploy.io/"
PAUSED = f"{PREFIX}paused"
PROMOTE = f"{PREFIX}promote"
APPROVED_BY = f"{PREFIX}approved-by"
"""Who approved the promote beside it: the admission webhook lets it name only the user who
writes it, where a policy names approvers."""
ONE_SHOT = ("promote", "abort", "retry", "undo")


@dataclass(frozen=True)
class Commands:
    paused: bool = False
    promote: str | None = None  # "step" or "full"
    abort: bool = False
    retry: bool = False
    undo: bool = False
    tokens: dict[str, str] = field(default_factory=dict)
    """Command → the token to record as handled once this reconcile has acted on it."""


def read_commands(annotations: dict[str, str], status: ModelDeploymentStatus) -> Commands:
    handled = status.handled_commands or {}
    pending: dict[str, str] = {}
    for verb in ONE_SHOT:
        token = annotations.get(f"{PREFIX}{verb}")
        if token and handled.get(verb) != token:
            pending[verb] = token
    promote = None
    if "promote" in pending:
        promote = "full" if pending["promote"].split("@", 1)[0] == "full" else "step"
    return Commands(
        paused=annotations.get(PAUSED, "").lower() == "true",
        promote=promote,
        abort="abort" in pending,
        retry="retry" in pending,
        undo="undo" in pending,
        tokens=pending,
    )
