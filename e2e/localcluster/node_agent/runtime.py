"""Container processes: started as their own process group, recorded in pid files."""

from __future__ import annotations

import contextlib
import datetime
import logging
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2e.localcluster import procs
from e2e.localcluster.node_agent.backoff import exit_code_of
from e2e.localcluster.node_agent.container_spec import ProcessSpec

log = logging.getLogger(__name__)


@dataclass
class ContainerProcess:
    key: str
    proc: subprocess.Popen[bytes]
    record: procs.ProcessRecord
    pid_file: Path
    log_path: Path
    exit_code: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> int | None:
        """The exit code once the process has ended, after the rest of its group is gone."""
        with self._lock:
            if self.exit_code is not None:
                return self.exit_code
            returncode = self.proc.poll()
            if returncode is None:
                return None
            # Like a container's cgroup, nothing the process started survives it.
            procs.terminate_group(self.proc.pid, 0)
            self.pid_file.unlink(missing_ok=True)
            self.exit_code = exit_code_of(returncode)
            return self.exit_code


class ProcessRuntime:
    def __init__(self, pid_dir: Path) -> None:
        self.pid_dir = pid_dir
        pid_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self,
        key: str,
        spec: ProcessSpec,
        cwd: Path,
        log_path: Path,
        on_exit: Callable[[], None],
    ) -> ContainerProcess:
        """Starts the process; raises OSError when it cannot be executed at all."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        with open(log_path, "ab") as handle:
            handle.write(f"==> {stamp} starting {list(spec.argv)}\n".encode())
        proc, record = procs.spawn(key, spec.argv, log_path, env=spec.env, cwd=cwd)
        pid_file = self.pid_dir / f"{key}.json"
        record.save(pid_file)
        container = ContainerProcess(key, proc, record, pid_file, log_path)

        def wait_then_notify() -> None:
            with contextlib.suppress(Exception):
                proc.wait()
            on_exit()

        threading.Thread(target=wait_then_notify, name=f"wait-{key}", daemon=True).start()
        return container

    def kill(self, container: ContainerProcess, grace_s: float) -> None:
        """SIGTERM to the group, SIGKILL after the grace period (blocks until it is gone)."""
        if container.proc.poll() is None:
            procs.terminate_group(container.proc.pid, grace_s, container.proc, signal.SIGTERM)
        container.poll()

    def cleanup_stale(self) -> int:
        """Stops the processes an earlier run of the agent left; returns how many it found."""
        found = 0
        for pid_file in sorted(self.pid_dir.glob("*.json")):
            record = procs.ProcessRecord.load(pid_file)
            if record is not None and procs.is_running(record):
                log.info("stopping process %s (pid %d) of an earlier run", record.name, record.pid)
                procs.stop_record(record, 5)
                found += 1
            pid_file.unlink(missing_ok=True)
        return found
