import sys
import time
from pathlib import Path

from e2e.localcluster import procs

CHILD_AND_GRANDCHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "time.sleep(60)"
)


def test_terminate_group_stops_children_too(tmp_path: Path) -> None:
    proc, record = procs.spawn(
        "sleeper", [sys.executable, "-c", CHILD_AND_GRANDCHILD], tmp_path / "log"
    )
    deadline = time.monotonic() + 10
    while len(procs.group_members(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(procs.group_members(proc.pid)) == 2
    assert procs.is_running(record)
    procs.terminate_group(proc.pid, 2, proc)
    assert procs.group_members(proc.pid) == []
    assert not procs.is_running(record)


def test_records_survive_a_round_trip_and_spot_recycled_pids(tmp_path: Path) -> None:
    proc, record = procs.spawn(
        "s", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "l"
    )
    record.save(tmp_path / "r.json")
    loaded = procs.ProcessRecord.load(tmp_path / "r.json")
    assert loaded == record
    # How it was started comes back too: another process can start it again.
    assert loaded is not None and loaded.argv[1:] == ("-c", "import time; time.sleep(30)")
    impostor = procs.ProcessRecord("s", record.pid, record.start_ticks + 1)
    assert not procs.is_running(impostor)
    procs.stop_record(record, 2)
    proc.wait(5)
    assert not procs.is_running(record)


def test_marked_processes_are_found_and_killed(tmp_path: Path) -> None:
    marker = f"test-{time.time_ns()}"
    env = {"PATH": "/usr/bin:/bin", procs.CLUSTER_MARKER_ENV: marker}
    proc, _ = procs.spawn(
        "m", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "l", env=env
    )
    deadline = time.monotonic() + 5
    while not procs.marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert procs.marked_processes(marker) == [proc.pid]
    assert procs.kill_marked(marker) == [proc.pid]
    proc.wait(5)
    assert procs.marked_processes(marker) == []


def test_a_record_without_argv_still_loads(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"name": "etcd", "pid": 7, "start_ticks": 9}')
    assert procs.ProcessRecord.load(tmp_path / "r.json") == procs.ProcessRecord("etcd", 7, 9)
