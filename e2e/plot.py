"""A picture of one rollout: the weight meant for the canary and the one it got, step by step
over time, each check's value against its bound, and how the rollout ended."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

_BOUND = re.compile(r"\b(max|min) (-?[0-9.]+(?:e[-+]?[0-9]+)?)")


@dataclass
class RolloutTrace:
    """Statuses of one rollout as they were seen, with the seconds since it began."""

    title: str
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def add(self, at_s: float, status: dict[str, Any]) -> None:
        self.samples.append((at_s, status))

    def series(self, key: str) -> tuple[list[float], list[float]]:
        times = [t for t, s in self.samples if s.get(key) is not None]
        return times, [float(s[key]) for _, s in self.samples if s.get(key) is not None]

    def check_values(self) -> dict[str, tuple[list[float], list[float], float | None]]:
        """Per check: the times it was measured, its values, and its absolute bound."""
        found: dict[str, tuple[list[float], list[float], float | None]] = {}
        seen: set[tuple[str, str]] = set()
        for at, status in self.samples:
            for check in status.get("checks") or []:
                measured = (check["name"], str(check.get("measuredAt")))
                if check.get("value") is None or measured in seen:
                    continue
                seen.add(measured)
                times, values, bound = found.setdefault(check["name"], ([], [], None))
                times.append(at)
                values.append(float(check["value"]))
                match = _BOUND.search(str(check.get("bound") or ""))
                if bound is None and match:
                    found[check["name"]] = (times, values, float(match.group(2)))
        return found

    def ending(self) -> tuple[float, str] | None:
        """When and how the rollout ended: promoted or rolled back."""
        canaries = [(s.get("canary") or {}).get("revision") for _, s in self.samples]
        canary = next((c for c in canaries if c), None)
        for at, status in self.samples:
            if status.get("phase") == "RolledBack":
                return at, "rolled back"
            if canary and (status.get("stable") or {}).get("revision") == canary:
                return at, "promoted"
        return None


def plot_rollout(trace: RolloutTrace, path: Path) -> Path:
    checks = trace.check_values()
    rows = 1 + len(checks)
    figure, axes = plt.subplots(rows, 1, figsize=(9, 2.6 + 2.0 * len(checks)), sharex=True)
    axes = list(axes) if rows > 1 else [axes]
    weight = axes[0]
    for key, label, style in (("weight", "weight (meant)", "-"),
                              ("effectiveWeight", "effective weight", "--")):  # fmt: skip
        times, values = trace.series(key)
        weight.step(times, values, style, where="post", label=label)
    weight.set_ylabel("canary %")
    weight.set_ylim(-5, 105)
    weight.legend(loc="upper left", fontsize=8)
    weight.set_title(trace.title)
    for axis, (name, (times, values, bound)) in zip(axes[1:], sorted(checks.items()), strict=True):
        axis.plot(times, values, "o-", label=name)
        if bound is not None:
            axis.axhline(bound, color="red", linestyle=":", label=f"bound {bound:g}")
        axis.set_ylabel(name)
        axis.legend(loc="upper left", fontsize=8)
    ending = trace.ending()
    if ending is not None:
        at, how = ending
        for axis in axes:
            axis.axvline(at, color="green" if how == "promoted" else "red", alpha=0.6)
        weight.annotate(how, (at, 95), textcoords="offset points", xytext=(4, -4), fontsize=9)
    axes[-1].set_xlabel("seconds since the rollout began")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
