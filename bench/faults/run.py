"""`make bench-faults`: rollouts under faults, and bad input by the thousand.

1. The fault scenarios (`e2e/scenarios/test_faults.py`) and the spec agreement fuzz
   (`tests/integration/test_spec_agreement.py`, `FUZZ_SPEC_CASES` specs sent to the real API
   server through the CRD and the admission webhook, and read by the operator's models) run in
   one pytest session on the local cluster, with the operator installed by its chart; each
   scenario reports what it saw.
2. The serving image's HTTP surface is fuzzed (`serving-image/tests/test_serving_fuzz.py`,
   `FUZZ_HTTP_CASES` requests) against a real server process.

Writes bench/results/faults.json and the table in bench/README.md; exits non-zero, naming what
was missed, when a scenario is not ok, a disagreement or a 5xx was seen, or too few cases ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.readme import replace_block  # noqa: E402

RESULTS = REPO / "bench" / "results" / "faults.json"
SCENARIOS = 11
# Cases asked of hypothesis; it may run a few fewer (it skips what it already tried), so it is
# asked for more than the MIN_CASES each fuzz must reach.
FUZZ_SPEC_CASES = int(os.environ.get("FUZZ_SPEC_CASES", "10500"))
FUZZ_HTTP_CASES = int(os.environ.get("FUZZ_HTTP_CASES", "11000"))
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "10000"))


def pytest(*args: str, env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, cwd=REPO, env={**os.environ, **env}, check=False).returncode


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modeldeploy-bench-faults-"))
    scenarios_file, spec_file, crd_file, http_file = (
        work / "scenarios.jsonl",
        work / "spec.json",
        work / "crd.json",
        work / "http.json",
    )
    started = time.monotonic()
    cluster_rc = pytest(
        "e2e/scenarios/test_faults.py",
        "tests/integration/test_spec_agreement.py",
        env={
            "MODELDEPLOY_FAULT_REPORT": str(scenarios_file),
            "MODELDEPLOY_FUZZ_REPORT": str(spec_file),
            "MODELDEPLOY_FUZZ_CRD_REPORT": str(crd_file),
            "MODELDEPLOY_FUZZ_CASES": str(FUZZ_SPEC_CASES),
        },
    )
    http_rc = pytest(
        "serving-image/tests/test_serving_fuzz.py",
        env={"SERVING_FUZZ_CASES": str(FUZZ_HTTP_CASES), "SERVING_FUZZ_REPORT": str(http_file)},
    )
    scenarios = (
        [json.loads(line) for line in scenarios_file.read_text().splitlines() if line.strip()]
        if scenarios_file.exists()
        else []
    )
    result: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%d"),
        "machine": "2 cores; local cluster with a real node, operator installed by its chart",
        "scenarios": scenarios,
        **(json.loads(spec_file.read_text()) if spec_file.exists() else {}),
        **(json.loads(crd_file.read_text()) if crd_file.exists() else {}),
        **(json.loads(http_file.read_text()) if http_file.exists() else {}),
        "seconds": round(time.monotonic() - started),
        "pytest_exit_codes": {"cluster": cluster_rc, "http": http_rc},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_readme_table(result)
    missed = missed_targets(result)
    for line in missed:
        print(f"FAILED: {line}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 1 if missed else 0


def missed_targets(result: dict[str, Any]) -> list[str]:
    missed = [
        f"scenario not ok: {s['name']}: {s['notes']}" for s in result["scenarios"] if not s["ok"]
    ]
    if len(result["scenarios"]) < SCENARIOS:
        missed.append(f"only {len(result['scenarios'])} of {SCENARIOS} scenarios reported")
    if result.get("fuzz_spec_cases", 0) < MIN_CASES:
        missed.append(f"{result.get('fuzz_spec_cases', 0)} spec cases, fewer than {MIN_CASES}")
    if result.get("fuzz_spec_disagreements") != 0:
        missed.append(f"{result.get('fuzz_spec_disagreements')} spec disagreements")
    stricter = result.get("fuzz_crd_only_refused_by_the_crd_taken_by_the_operator")
    if stricter != 0:
        missed.append(f"{stricter} specs the operator takes refused by the CRD alone")
    if result.get("fuzz_http_cases", 0) < MIN_CASES:
        missed.append(f"{result.get('fuzz_http_cases', 0)} HTTP cases, fewer than {MIN_CASES}")
    if result.get("fuzz_http_5xx") != 0:
        missed.append(f"{result.get('fuzz_http_5xx')} HTTP 5xx answers to bad input")
    for part, code in result["pytest_exit_codes"].items():
        if code != 0:
            missed.append(f"the {part} tests exited with {code}")
    return missed


def write_readme_table(result: dict[str, Any]) -> None:
    rows = [
        "| scenario | ok | client requests failed | max bad exposure (s) | notes |",
        "| --- | --- | ---: | ---: | --- |",
        *(
            f"| {s['name']} | {'yes' if s['ok'] else 'NO'} | {s['client_requests_failed']} | "
            f"{s['max_bad_exposure_s']} | {s['notes']} |"
            for s in result["scenarios"]
        ),
    ]
    body = "\n".join(
        [
            f"Measured {result['measured_at']} on {result['machine']}.",
            "",
            *rows,
            "",
            f"Spec fuzz: {result.get('fuzz_spec_cases')} specs, "
            f"{result.get('fuzz_spec_disagreements')} disagreements "
            f"({result.get('fuzz_spec_accepted_by_both')} accepted by both, "
            f"{result.get('fuzz_spec_refused_by_both')} refused by both). "
            f"With the webhook out of the way, the CRD alone: "
            f"{result.get('fuzz_crd_only_cases')} specs, "
            f"{result.get('fuzz_crd_only_refused_by_the_crd_taken_by_the_operator')} refused "
            "that the operator takes, "
            f"{result.get('fuzz_crd_only_taken_by_the_crd_refused_by_the_operator')} taken that "
            "the operator refuses (with a status message; the webhook refuses them at apply). "
            f"HTTP fuzz: {result.get('fuzz_http_cases')} requests, "
            f"{result.get('fuzz_http_5xx')} answered 5xx, statuses "
            f"{result.get('fuzz_http_statuses')}, resident memory "
            f"{result.get('fuzz_http_rss_growth_mb')} MB more after them.",
        ]
    )
    replace_block("faults-bench", body)


if __name__ == "__main__":
    raise SystemExit(main())
