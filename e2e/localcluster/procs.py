"""Process groups that may outlive the Python process that started them.

Every component and every pod process is started as the leader of its own session, so that
stopping it means signalling a whole process group, and is recorded with the start time the
kernel gives it, so that a pid recycled by an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

# Set in the environment of everything a cluster starts; a last sweep at teardown finds any
# process that left its process group (a daemonising child, say) by this marker.
CLUSTER_MARKER_ENV = "MODELDEPLOY_LOCALCLUSTER_ID"


@dataclass(frozen=True)
class ProcessRecord:
    """Identifies one started process across Python processes (written to the state dir)."""

    name: str
    pid: int
    start_ticks: int
    # How it was started, so that another process's handle on the cluster can start it again.
    argv: tuple[str, ...] = ()
    cwd: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProcessRecord:
        argv = data.get("argv") or ()
        cwd = data.get("cwd")
        return cls(
            name=str(data["name"]),
            pid=_as_int(data["pid"]),
            start_ticks=_as_int(data["start_ticks"]),
            argv=tuple(str(a) for a in argv) if isinstance(argv, list | tuple) else (),
            cwd=str(cwd) if cwd else None,
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # starttime is field 22 of stat; the slice starts at field 3.
    return int(fields[19]) if fields else None


def is_running(record: ProcessRecord) -> bool:
    fields = _stat_fields(record.pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == record.start_ticks


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Starts argv as a new session leader with stdout and stderr appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    ticks = start_ticks(proc.pid)
    record = ProcessRecord(
        name=name,
        pid=proc.pid,
        start_ticks=ticks or 0,
        argv=tuple(argv),
        cwd=str(cwd) if cwd is not None else None,
    )
    return proc, record


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        with contextlib.suppress(OSError):
            proc.poll()


def _wait_group_gone(pgid: int, deadline: float, proc: subprocess.Popen[bytes] | None) -> bool:
    while True:
        _reap(proc)
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def terminate_group(
    pgid: int,
    grace_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    first_signal: signal.Signals = signal.SIGTERM,
) -> None:
    """SIGTERM (or first_signal) to the group, SIGKILL after grace_s, until none is left."""
    if grace_s <= 0 or not _wait_after(pgid, first_signal, grace_s, proc):
        _wait_after(pgid, signal.SIGKILL, 10, proc)
    if proc is not None:
        # The group is gone once the leader is a zombie; reap it so it does not linger.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _wait_after(
    pgid: int, sig: signal.Signals, timeout_s: float, proc: subprocess.Popen[bytes] | None
) -> bool:
    _signal_group(pgid, sig)
    return _wait_group_gone(pgid, time.monotonic() + timeout_s, proc)


def stop_record(record: ProcessRecord, grace_s: float) -> None:
    """Stops the process group led by a recorded process, if that process is still the one."""
    if is_running(record):
        terminate_group(record.pid, grace_s)
    else:
        # The leader may be gone while members of its group live on.
        _signal_group(record.pid, signal.SIGKILL)
        _wait_group_gone(record.pid, time.monotonic() + 5, None)


def marked_processes(cluster_id: str) -> list[int]:
    """Processes whose environment carries this cluster's marker."""
    needle = f"{CLUSTER_MARKER_ENV}={cluster_id}".encode()
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def kill_marked(cluster_id: str) -> list[int]:
    """SIGKILLs every process carrying the marker; returns the pids it found."""
    pids = marked_processes(cluster_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline and marked_processes(cluster_id):
        time.sleep(0.05)
    return pids
