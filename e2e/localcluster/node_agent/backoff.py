"""Restart policy and the kubelet's crash-loop back-off (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_S = 10.0
DEFAULT_CAP_S = 300.0


@dataclass(frozen=True)
class BackoffPolicy:
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S

    def delay(self, steps: int) -> float:
        """Delay before the restart that follows `steps` earlier back-to-back restarts.

        The first restart is immediate; then base, 2*base, ... up to cap, as the kubelet does.
        """
        if steps <= 0:
            return 0.0
        return float(min(self.base_s * 2 ** (steps - 1), self.cap_s))

    def resets_after(self) -> float:
        """A run at least this long forgets earlier crashes."""
        return 2 * self.cap_s


def should_restart(restart_policy: str, exit_code: int) -> bool:
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True


def exit_code_of(returncode: int) -> int:
    """Popen's -N for death by signal N becomes 128+N, as a container runtime reports it."""
    return 128 - returncode if returncode < 0 else returncode
