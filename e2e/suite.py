"""The integration tests and scenarios on one shared local cluster, side by side.

    python -m e2e.suite [--workers N] [PATH ...]

Starts one cluster (as `python -m e2e.localcluster up` does), then runs the tests in three
passes that all attach to it:

1. every test that strikes nothing shared, `--workers` at a time (pytest-xdist; each test in a
   namespace of its own);
2. the tests that kill the operator's replicas (`kills_operator`), side by side: their rollouts
   run at once, and they take turns at each fault (`InClusterOperator.alone`), so that a
   promise timed from one's own kill is not measured across another's;
3. the `disruptive` ones (a control plane, node, Prometheus or operator fault that strikes
   every test on the cluster), one after another.

Tests that start a cluster of their own (`own_cluster`) are left to other runs. With `--beside
CMD`, a shell command (the lint, the unit tests and those, say) runs in the background from the
end of pass 1 on: the later passes mostly wait on the cluster, and leave the cores to it. Its
output is printed once it ends.

The cluster is stopped at the end, whatever happened; the exit code is the worst of pytest's
and the command's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from e2e.localcluster.pytest_plugin import SHARED_CLUSTER_ENV

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("tests/localcluster", "tests/integration", "e2e/scenarios")
# The tests that strike the operator's replicas each run a rollout that mostly waits on its
# faults: all of them at once.
KILLS_SIDE_BY_SIDE = 4


def localcluster(command: str, state_dir: Path) -> int:
    return subprocess.call(
        [sys.executable, "-m", "e2e.localcluster", command, f"--state-dir={state_dir}"], cwd=REPO
    )


def pytest_pass(paths: list[str], marker: str, extra: list[str], state_dir: Path) -> int:
    # Tests that need no cluster run in `make unit`.
    argv = [sys.executable, "-m", "pytest", "-q", "-m", f"cluster and ({marker})", *extra, *paths]
    print(f"$ {' '.join(argv[1:])}", flush=True)
    began = time.monotonic()
    code = subprocess.call(argv, cwd=REPO, env={**os.environ, SHARED_CLUSTER_ENV: str(state_dir)})
    print(f"pass '{marker}' took {time.monotonic() - began:.0f} s (exit {code})", flush=True)
    return code


class Beside:
    """A shell command run in the background, its output kept in a file until it ends."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives until finish() reads it
        self.began = time.monotonic()
        print(f"$ {command} (beside the cluster tests)", flush=True)
        self.process = subprocess.Popen(
            command, shell=True, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT
        )

    def finish(self) -> int:
        code = self.process.wait()
        self.log.seek(0)
        sys.stdout.write(self.log.read().decode(errors="replace"))
        print(f"'{self.command}' took {time.monotonic() - self.began:.0f} s (exit {code})")
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.suite", description=__doc__)
    parser.add_argument("--workers", type=int, default=3, help="tests side by side (pass one)")
    parser.add_argument("--beside", help="a shell command to run during passes 2 and 3")
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    args = parser.parse_args(argv)

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # A run stopped with SIGTERM (a CI time-out) still stops the cluster.
    signal.signal(signal.SIGTERM, interrupted)
    state_dir = Path(tempfile.mkdtemp(prefix="modeldeploy-suite-"))
    beside: Beside | None = None
    try:
        if localcluster("up", state_dir) != 0:
            return 1
        # A worker that is done takes tests queued for another: the long scenarios do not
        # leave the others idle at the end of a pass.
        side_by_side = ["-p", "xdist", f"--numprocesses={args.workers}", "--dist=worksteal"]
        codes = [
            pytest_pass(
                args.paths,
                "not disruptive and not kills_operator and not own_cluster",
                [*side_by_side, "--durations=30"],
                state_dir,
            )
        ]
        if args.beside:
            beside = Beside(args.beside)
        codes += [
            pytest_pass(
                args.paths,
                "kills_operator",
                ["-p", "xdist", f"--numprocesses={KILLS_SIDE_BY_SIDE}", "--durations=5"],
                state_dir,
            ),
            pytest_pass(args.paths, "disruptive", ["--durations=15"], state_dir),
        ]
        if beside is not None:
            codes.append(beside.finish())
            beside = None
        # pytest's code 5 (nothing collected) is no failure when one pass has nothing to run.
        codes = [c for c in codes if c not in (0, 5)]
        return max(codes, default=0)
    finally:
        if beside is not None:
            beside.stop()
        localcluster("down", state_dir)


if __name__ == "__main__":
    sys.exit(main())
