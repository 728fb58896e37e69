"""The strict-skips plugin: its allowed list, how a pattern names a test, and a session it
fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2e.strict_skips import (
    STRICT_ENV,
    AllowedSkip,
    AllowListError,
    allowed_by,
    matches,
    parse_allowed_skips,
    strict,
    unlisted,
)

REPO = Path(__file__).resolve().parents[2]
# Node ids as pytest writes them: paths, `::`, parametrize ids with brackets, dots and dashes.
NODE_ID = st.text(
    alphabet=st.sampled_from("abcz_019/.:-[]?+()^$|\\{} "), min_size=1, max_size=40
).filter(lambda s: "*" not in s)


def test_the_list_reads_a_pattern_and_its_reason_per_line() -> None:
    text = (
        "# a comment\n"
        "\n"
        "tests/a.py::test_x  kind only: no handle on the node\n"
        "   tests/b.py::test_y[*]\tneeds   a GPU  \n"
    )
    assert parse_allowed_skips(text) == [
        AllowedSkip("tests/a.py::test_x", "kind only: no handle on the node"),
        AllowedSkip("tests/b.py::test_y[*]", "needs   a GPU"),
    ]


@pytest.mark.parametrize("line", ["tests/a.py::test_x", "tests/a.py::test_x   "])
def test_an_entry_without_a_reason_is_refused_with_its_line(line: str) -> None:
    with pytest.raises(AllowListError, match=r"^skips\.txt:2: 'tests/a\.py::test_x' has no reason"):
        parse_allowed_skips(f"# list\n{line}\n", "skips.txt")


def test_an_empty_list_allows_nothing() -> None:
    assert parse_allowed_skips("") == []
    assert unlisted({"t.py::a": "why"}, []) == {"t.py::a": "why"}


@pytest.mark.parametrize(
    ("pattern", "node_id", "expected"),
    [
        ("t.py::test_a", "t.py::test_a", True),
        ("t.py::test_a", "t.py::test_ab", False),
        ("t.py::test_a", "x/t.py::test_a", False),
        ("t.py::*", "t.py::test_a[1-2]", True),
        ("t.py::*", "u.py::test_a", False),
        ("*::test_a", "dir/t.py::test_a", True),
        ("t.py::test_a[*]", "t.py::test_a[etcd]", True),
        ("t.py::test_a[*]", "t.py::test_a", False),
        # Brackets, dots and question marks are themselves, not glob or regex syntax.
        ("t.py::test_a[1]", "t.py::test_a[1]", True),
        ("t.py::test_a[12]", "t.py::test_a[1]", False),
        ("t?py::test_a", "t.py::test_a", False),
        ("t.py::test_a", "tXpy::test_a", False),
        ("t.py::test_*[*]", "t.py::test_b[x]", True),
        ("*", "anything::at[all]", True),
    ],
)
def test_how_a_pattern_names_a_test(pattern: str, node_id: str, expected: bool) -> None:
    assert matches(pattern, node_id) is expected


@given(NODE_ID)
def test_an_id_names_itself_and_only_itself(node_id: str) -> None:
    assert matches(node_id, node_id)
    assert not matches(node_id, node_id + "x")
    assert not matches(node_id, "x" + node_id)


@given(NODE_ID, NODE_ID)
def test_a_trailing_star_names_every_id_that_starts_so(prefix: str, rest: str) -> None:
    assert matches(prefix + "*", prefix + rest)
    assert matches(prefix + "*", prefix)
    assert matches("*" + rest, prefix + rest)


@given(NODE_ID, NODE_ID)
def test_without_a_star_a_pattern_names_one_id(pattern: str, node_id: str) -> None:
    assert matches(pattern, node_id) is (pattern == node_id)


def test_the_first_entry_that_names_a_test_allows_it() -> None:
    entries = [AllowedSkip("a.py::*", "first"), AllowedSkip("a.py::test_x", "second")]
    entry = allowed_by("a.py::test_x", entries)
    assert entry is not None and entry.reason == "first"
    assert allowed_by("b.py::test_x", entries) is None


def test_only_the_unlisted_skips_remain() -> None:
    skipped = {"a.py::test_x": "r1", "b.py::test_y[1]": "r2", "b.py::test_z": "r3"}
    entries = [AllowedSkip("a.py::test_x", "why"), AllowedSkip("b.py::test_y[*]", "why")]
    assert unlisted(skipped, entries) == {"b.py::test_z": "r3"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), (" 1 ", True), ("0", False), ("", False)],
)
def test_strict_when_the_variable_says_so(value: str, expected: bool) -> None:
    assert strict({STRICT_ENV: value}) is expected
    assert strict({}) is False


# A session of pytest of its own, with only this plugin, on a small project in tmp_path.
PROJECT = """
import pytest

def test_runs():
    pass

def test_skipped_in_the_test():
    pytest.skip("no GPU here")

@pytest.mark.skipif(True, reason="not on this platform")
def test_skipped_by_a_mark():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_to_fail():
    assert False
"""


def session(tmp_path: Path, allowed: str | None, strict_value: str | None) -> tuple[int, str]:
    (tmp_path / "test_project.py").write_text(PROJECT)
    if allowed is not None:
        (tmp_path / "tests").mkdir(exist_ok=True)
        (tmp_path / "tests" / "allowed_skips.txt").write_text(allowed)
    env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if strict_value is not None:
        env[STRICT_ENV] = strict_value
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "e2e.strict_skips", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_a_session_with_unlisted_skips_fails_naming_them(tmp_path: Path) -> None:
    allowed = "test_project.py::test_skipped_by_a_mark  the platform lacks it\n"
    code, output = session(tmp_path, allowed, "1")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert "skips not on tests/allowed_skips.txt" in output
    assert "SKIPPED test_project.py::test_skipped_in_the_test - no GPU here" in output
    assert "SKIPPED test_project.py::test_skipped_by_a_mark -" not in output
    # An expected failure ran: it is no skip.
    assert "test_expected_to_fail -" not in output
    assert "1 test(s) skipped without being allowed" in output


def test_a_session_whose_skips_are_all_listed_passes(tmp_path: Path) -> None:
    allowed = "test_project.py::test_skipped_*  both are right here\n"
    code, output = session(tmp_path, allowed, "1")
    assert code == pytest.ExitCode.OK, output
    assert "skips not on" not in output


@pytest.mark.parametrize("strict_value", [None, "0"])
def test_without_the_variable_skips_pass_as_ever(tmp_path: Path, strict_value: str | None) -> None:
    code, output = session(tmp_path, None, strict_value)
    assert code == pytest.ExitCode.OK, output
    assert "2 skipped" in output


def test_a_missing_list_allows_nothing(tmp_path: Path) -> None:
    code, output = session(tmp_path, None, "1")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert "2 test(s) skipped without being allowed" in output


def test_a_list_with_an_entry_without_reason_stops_the_session(tmp_path: Path) -> None:
    code, output = session(tmp_path, "test_project.py::test_runs\n", "1")
    assert code == pytest.ExitCode.USAGE_ERROR, output
    assert "has no reason" in output


def test_a_module_skipped_whole_is_a_skip_too(tmp_path: Path) -> None:
    (tmp_path / "test_gone.py").write_text(
        'import pytest\npytest.skip("module gone", allow_module_level=True)\n'
    )
    allowed = "test_project.py::test_skipped_*  both are right here\n"
    code, output = session(tmp_path, allowed, "1")
    assert code == pytest.ExitCode.TESTS_FAILED, output
    assert "SKIPPED test_gone.py - module gone" in output


def test_the_repository_list_parses_and_gives_every_entry_a_reason() -> None:
    entries = parse_allowed_skips((REPO / "tests" / "allowed_skips.txt").read_text())
    assert entries and all(entry.reason for entry in entries)
