"""The rollout picture: what it reads from statuses, and that it makes a PNG."""

from pathlib import Path

from e2e.plot import RolloutTrace, plot_rollout


def trace() -> RolloutTrace:
    made = RolloutTrace("iris v3")
    stable = {"revision": "r1"}
    canary = {"revision": "r3"}
    check = {"name": "error-rate", "bound": "max 0.05", "verdict": "Fail"}
    made.add(0, {"phase": "Canary", "weight": 0, "stable": stable, "canary": canary})
    made.add(
        1,
        {
            "phase": "Canary",
            "weight": 25,
            "effectiveWeight": 25,
            "stable": stable,
            "canary": canary,
            "checks": [{**check, "value": 0.3, "measuredAt": "a"}],
        },
    )
    made.add(
        2,
        {
            "phase": "Canary",
            "weight": 25,
            "effectiveWeight": 25,
            "stable": stable,
            "canary": canary,
            "checks": [{**check, "value": 0.3, "measuredAt": "a"}],
        },
    )
    made.add(3, {"phase": "RolledBack", "weight": 0, "effectiveWeight": 0, "stable": stable})
    return made  # fmt: skip


def test_each_measurement_counts_once_with_its_bound() -> None:
    assert trace().check_values() == {"error-rate": ([1], [0.3], 0.05)}


def test_the_ending_is_found() -> None:
    assert trace().ending() == (3, "rolled back")
    promoted = RolloutTrace("v2")
    promoted.add(0, {"stable": {"revision": "r1"}, "canary": {"revision": "r2"}})
    promoted.add(5, {"stable": {"revision": "r2"}})
    assert promoted.ending() == (5, "promoted")


def test_a_png_is_written(tmp_path: Path) -> None:
    path = plot_rollout(trace(), tmp_path / "rollout.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
