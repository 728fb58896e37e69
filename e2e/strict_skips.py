"""pytest plugin: with MODELDEPLOY_STRICT_SKIPS=1, a session in which a test was skipped fails
unless the skip is on the allowed list, and the failure names every such test.

A skipped test proves nothing, yet a session with one reads as green: a program missing from
PATH, or a fixture that gives up, would quietly take a test out of every run. The allowed list
(tests/allowed_skips.txt under the rootdir) holds the skips that are right where they happen,
one a line: a test id pattern, then why. In a pattern `*` stands for any run of characters and
everything else is itself, so parametrized ids (`test_x[a-b]`) need no escaping.

Enable with `pytest_plugins = ["e2e.strict_skips"]` in the top-level conftest; nothing changes
unless the variable is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

STRICT_ENV = "MODELDEPLOY_STRICT_SKIPS"
ALLOWED_SKIPS_FILE = Path("tests") / "allowed_skips.txt"
_ON = ("1", "true", "yes")


class AllowListError(ValueError):
    """A line of the allowed list that is not a pattern followed by a reason."""


@dataclass(frozen=True)
class AllowedSkip:
    pattern: str
    reason: str


def strict(environ: Mapping[str, str]) -> bool:
    return environ.get(STRICT_ENV, "").strip().lower() in _ON


def parse_allowed_skips(
    text: str, source: str = ALLOWED_SKIPS_FILE.as_posix()
) -> list[AllowedSkip]:
    """The entries of an allowed list; blank lines and `#` comments are ignored."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if len(parts) < 2:
            raise AllowListError(
                f"{source}:{number}: {stripped!r} has no reason; write the test id pattern, "
                "then why skipping it is right"
            )
        entries.append(AllowedSkip(parts[0], parts[1].strip()))
    return entries


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def matches(pattern: str, node_id: str) -> bool:
    """Whether `pattern` names `node_id`: all of it, `*` standing for any run of characters."""
    return _compile(pattern).fullmatch(node_id) is not None


def allowed_by(node_id: str, allowed: Iterable[AllowedSkip]) -> AllowedSkip | None:
    """The first entry that names `node_id`, if any does."""
    return next((entry for entry in allowed if matches(entry.pattern, node_id)), None)


def unlisted(skipped: Mapping[str, str], allowed: Iterable[AllowedSkip]) -> dict[str, str]:
    """The skips (node id → reason) that no entry names."""
    entries = list(allowed)
    return {
        node_id: reason
        for node_id, reason in skipped.items()
        if allowed_by(node_id, entries) is None
    }


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class StrictSkips:
    """Collects the session's skips and fails the session at its end for the unlisted ones."""

    def __init__(self, allowed: list[AllowedSkip], source: str) -> None:
        self.allowed = allowed
        self.source = source
        self.skipped: dict[str, str] = {}

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        # An expected failure is reported as skipped too; it ran, so it is no skip.
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.setdefault(report.nodeid, _reason(report))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def unlisted(self) -> dict[str, str]:
        return unlisted(self.skipped, self.allowed)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Failures and interruptions already fail the session and say why; only a session
        # that would otherwise pass is turned.
        if self.unlisted() and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        found = self.unlisted()
        if not found:
            return
        terminalreporter.section(f"skips not on {self.source}", sep="=", red=True, bold=True)
        for node_id, reason in found.items():
            terminalreporter.line(f"SKIPPED {node_id} - {reason}", red=True)
        terminalreporter.line(
            f"{len(found)} test(s) skipped without being allowed ({STRICT_ENV} is set): make "
            f"them run, or add each to {self.source} with the reason skipping it is right"
        )


def pytest_configure(config: pytest.Config) -> None:
    if not strict(os.environ):
        return
    path = config.rootpath / ALLOWED_SKIPS_FILE
    try:
        text = path.read_text() if path.exists() else ""
        allowed = parse_allowed_skips(text, str(path))
    except AllowListError as error:
        raise pytest.UsageError(str(error)) from None
    plugin = StrictSkips(allowed, ALLOWED_SKIPS_FILE.as_posix())
    config.pluginmanager.register(plugin, "modeldeploy-strict-skips")
