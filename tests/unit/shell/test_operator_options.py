"""What `modeldeploy-operator`'s flags and environment set: the log level, leader election's
timings and the default serving image, as the chart passes them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE
from modeldeploy.runtime import logs
from modeldeploy.runtime.leader import LeaseTiming
from modeldeploy.shell.main import LOG_LEVELS, parse


@pytest.fixture(autouse=True)
def _no_operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODELDEPLOY_LOG_LEVEL", "MODELDEPLOY_DEFAULT_SERVING_IMAGE", "POD_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in logs.QUIETED_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)


def test_the_defaults() -> None:
    options = parse([])
    assert options.log_level == logging.INFO
    assert options.settings.lease_timing == LeaseTiming(10.0, 7.0, 2.0)
    assert options.settings.default_serving_image == DEFAULT_SERVING_IMAGE


def test_leader_election_timings_are_flags() -> None:
    options = parse(
        [
            "--leader-election-lease-duration=30s",
            "--leader-election-renew-deadline=20s",
            "--leader-election-retry-period=500ms",
        ]
    )
    assert options.settings.lease_timing == LeaseTiming(30.0, 20.0, 0.5)


ORDER = "retry period < renew deadline < lease duration"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        # Each would let a standby take the Lease while its holder still acts.
        (["--leader-election-renew-deadline=10s"], ORDER),
        (["--leader-election-retry-period=7s"], ORDER),
        (["--leader-election-lease-duration=ten seconds"], "--leader-election-lease-duration"),
    ],
)
def test_timings_that_could_let_two_replicas_act_are_refused(
    flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parse(flags)
    assert refused.value.code == 2
    assert said in capsys.readouterr().err


def test_the_default_serving_image_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELDEPLOY_DEFAULT_SERVING_IMAGE", "registry.example.com/serving:2.0")
    assert parse([]).settings.default_serving_image == "registry.example.com/serving:2.0"


def test_the_log_level_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELDEPLOY_LOG_LEVEL", "WARNING")
    assert parse([]).log_level == logging.WARNING
    assert parse(["--log-level=debug"]).log_level == logging.DEBUG
    monkeypatch.setenv("MODELDEPLOY_LOG_LEVEL", "verbose")
    with pytest.raises(SystemExit):
        parse([])


def _logged_levels(capsys: pytest.CaptureFixture[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        seen.setdefault(record["logger"], set()).add(record["level"])
    return seen


@pytest.mark.parametrize("name", sorted(LOG_LEVELS))
@pytest.mark.usefixtures("restored_logging")
def test_each_log_level_logs_what_it_says(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    level = parse([f"--log-level={name}"]).log_level
    logs.configure(level)
    for logger in ("modeldeploy.shell.reconcile", "kopf.objects"):
        for severity in LOG_LEVELS.values():
            logging.getLogger(logger).log(severity, "a record")
    seen = _logged_levels(capsys)
    names = {severity: logging.getLevelName(severity) for severity in LOG_LEVELS.values()}
    ours = {names[s] for s in LOG_LEVELS.values() if s >= level}
    # The libraries say nothing below a warning, at any level.
    theirs = {names[s] for s in LOG_LEVELS.values() if s >= max(level, logging.WARNING)}
    assert seen.get("modeldeploy.shell.reconcile", set()) == ours
    assert seen.get("kopf.objects", set()) == theirs
