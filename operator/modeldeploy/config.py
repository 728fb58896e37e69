"""Every setting of the operator, from its flags and environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modeldeploy.spec import parse_duration


@dataclass(frozen=True)
class Settings:
    namespaces: list[str] = field(default_factory=list)
    """Namespaces to watch; all when empty."""
    prometheus_url: str | None = None
    min_check_window_s: float = 60.0
    """Shortest range a check queries, however short its interval."""
    resync_s: float = 300.0
    """Every object is reconciled at least this often, from the watch cache: a safety net
    against a missed event, not how the operator notices changes."""
    workers: int = 4
    """Reconciles that may run at once (each of a different object)."""
    watch_timeout_s: int = 300
    """How long one WATCH request of the API server lasts before it is resumed."""
    sync_timeout_s: float = 120.0
    """How long start-up waits for the first full listing of the children."""

    @classmethod
    def from_env(cls, namespaces: list[str] | None = None) -> Settings:
        env = os.environ
        return cls(
            namespaces=list(namespaces or []),
            prometheus_url=env.get("MODELDEPLOY_PROMETHEUS_URL") or None,
            min_check_window_s=parse_duration(env.get("MODELDEPLOY_MIN_CHECK_WINDOW", "1m")),
            resync_s=parse_duration(env.get("MODELDEPLOY_RESYNC_PERIOD", "5m")),
            workers=int(env.get("MODELDEPLOY_WORKERS", "4")),
            watch_timeout_s=int(parse_duration(env.get("MODELDEPLOY_WATCH_TIMEOUT", "5m"))),
        )


_current: Settings | None = None


def configure(settings: Settings) -> None:
    global _current
    _current = settings


def current() -> Settings:
    """The settings `main` configured; read from the environment when nothing did."""
    return _current if _current is not None else Settings.from_env()
