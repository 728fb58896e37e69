#!/usr/bin/env python3
"""Throughput and latency of modeldeploy-serving against MLServer on the same model.

Trains a small classifier, serves it with both servers over the Open Inference Protocol (v2)
REST API on loopback, and drives each with the same closed-loop load generator at the same
concurrency, for 1-row and 32-row requests; the ONNX conversion of the model is measured on
modeldeploy-serving too. Writes bench/results/serving.json and the table in bench/README.md.

Environment knobs: BENCH_DURATION (seconds per measurement, default 8), BENCH_WARMUP (2),
BENCH_CONNECTIONS (8), BENCH_ROUNDS (3), BENCH_LOADGEN (wrk | python; default wrk when
available), MODELDEPLOY_CACHE (where MLServer's virtualenv is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "serving.json"
README = REPO / "bench" / "README.md"

DURATION = float(os.environ.get("BENCH_DURATION", "8"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MLSERVER_VERSION = "1.7.1"
CACHE = Path(os.environ.get("MODELDEPLOY_CACHE", Path.home() / ".cache" / "modeldeploy"))
MLSERVER_VENV = CACHE / "mlserver-venv"
START_TIMEOUT = 90.0
ROWS = (1, 32)

TABLE_BEGIN = "<!-- serving-bench:begin -->"
TABLE_END = "<!-- serving-bench:end -->"


def log(message: str) -> None:
    print(f"[bench-serving] {message}", flush=True)


# -- models -------------------------------------------------------------------------------------


def train_models(workdir: Path) -> tuple[Path, Path, np.ndarray]:
    """An iris-sized problem: 150 rows, 4 features, 3 classes, generated rather than downloaded."""
    import joblib
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    features, labels = make_classification(
        n_samples=150,
        n_features=4,
        n_informative=3,
        n_redundant=1,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=7,
    )
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    sklearn_path = workdir / "model.joblib"
    joblib.dump(model, sklearn_path)
    onnx_model = to_onnx(
        model, features[:1].astype(np.float32), options={id(model): {"zipmap": False}}
    )
    onnx_path = workdir / "model.onnx"
    onnx_path.write_bytes(onnx_model.SerializeToString())
    return sklearn_path, onnx_path, features


def request_bodies(features: np.ndarray, input_name: str, datatype: str) -> dict[int, bytes]:
    rng = np.random.default_rng(3)
    bodies = {}
    for rows in ROWS:
        sample = features[rng.choice(len(features), size=rows, replace=False)].round(4)
        payload = {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [rows, sample.shape[1]],
                    "datatype": datatype,
                    "data": sample.tolist(),
                }
            ]
        }
        bodies[rows] = json.dumps(payload).encode()
    return bodies


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> Any:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@contextlib.contextmanager
def running(
    name: str, argv: list[str], env: dict[str, str], ready_url: str, logfile: Path
) -> Iterator[None]:
    log(f"starting {name}")
    with logfile.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {logfile}")
                try:
                    http("GET", ready_url, timeout=1.0)
                    break
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} not ready after {START_TIMEOUT:.0f}s; see {logfile}"
                    )
                time.sleep(0.25)
            yield
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    # The servers run in their own sessions; signal the whole group so that MLServer's worker
    # processes go too.
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def mlserver_venv() -> Path:
    """MLServer and its sklearn runtime in their own virtualenv, kept between runs.

    scikit-learn and numpy are pinned to this interpreter's versions so that both servers load
    the very same pickle; uvloop stays below 0.22, whose loop MLServer's workers cannot use.
    """
    requirements = [
        f"mlserver=={MLSERVER_VERSION}",
        f"mlserver-sklearn=={MLSERVER_VERSION}",
        "uvloop<0.22",
        f"scikit-learn=={importlib.metadata.version('scikit-learn')}",
        f"numpy=={importlib.metadata.version('numpy')}",
        f"joblib=={importlib.metadata.version('joblib')}",
    ]
    marker = MLSERVER_VENV / ".bench-requirements"
    binary = MLSERVER_VENV / "bin" / "mlserver"
    if binary.exists() and marker.exists() and marker.read_text() == "\n".join(requirements):
        return binary
    log(f"installing MLServer {MLSERVER_VERSION} into {MLSERVER_VENV} (once)")
    shutil.rmtree(MLSERVER_VENV, ignore_errors=True)
    MLSERVER_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True, timeout=120)
    pip = [str(MLSERVER_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, timeout=300)
    subprocess.run([*pip, *requirements], check=True, timeout=900)
    marker.write_text("\n".join(requirements))
    return binary


# -- load generation ----------------------------------------------------------------------------


@dataclass
class Measurement:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
        }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\\"requests\\": %d, \\"errors\\": %d, \\"seconds\\": %f, " ..
    "\\"p50_us\\": %f, \\"p95_us\\": %f, \\"p99_us\\": %f, \\"mean_us\\": %f}\\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean))
end
"""


def find_wrk() -> str | None:
    if os.environ.get("BENCH_LOADGEN") == "python":
        return None
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    log("installing wrk from the Debian archive")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
            env=env,
            timeout=300,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, body: bytes, seconds: float, workdir: Path) -> Measurement:
    body_file = workdir / "body.json"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    completed = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        env={**os.environ, "BENCH_BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    line = next(
        (ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None
    )
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    return Measurement(
        requests=raw["requests"],
        errors=raw["errors"],
        seconds=raw["seconds"],
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
    )


async def _python_load(host: str, port: int, path: str, body: bytes, seconds: float) -> Measurement:
    """A keep-alive HTTP/1.1 closed loop per connection, for machines without wrk."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for header in head.split(b"\r\n"):
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status >= 400:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    values = np.array(latencies) * 1000
    return Measurement(
        requests=len(latencies),
        errors=errors,
        seconds=elapsed,
        p50_ms=float(np.percentile(values, 50)),
        p95_ms=float(np.percentile(values, 95)),
        p99_ms=float(np.percentile(values, 99)),
        mean_ms=float(values.mean()),
    )


def measure(wrk: str | None, port: int, path: str, body: bytes, workdir: Path) -> Measurement:
    url = f"http://127.0.0.1:{port}{path}"
    if wrk:
        run_wrk(wrk, url, body, WARMUP, workdir)
        return run_wrk(wrk, url, body, DURATION, workdir)
    asyncio.run(_python_load("127.0.0.1", port, path, body, WARMUP))
    return asyncio.run(_python_load("127.0.0.1", port, path, body, DURATION))


# -- the benchmark ------------------------------------------------------------------------------


def ours_env(port: int, uri: str, model_format: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "SERVING_"))}
    env.update(
        MODEL_NAME="iris",
        MODEL_VERSION="v1",
        MODEL_URI=uri,
        MODEL_FORMAT=model_format,
        MODEL_CACHE_DIR=str(cache),
        SERVING_HOST="127.0.0.1",
        SERVING_PORT=str(port),
        SERVING_DRAIN_SECONDS="0",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO / "serving-image"), os.environ.get("PYTHONPATH")])
        ),
    )
    return env


def check_predictions(responses: dict[str, Any]) -> dict[str, Any]:
    """Both servers must agree before their speed means anything."""

    def output(response: Any, name: str) -> list[Any]:
        return next(o["data"] for o in response["outputs"] if o["name"] == name)

    ours = output(responses["ours_sklearn"], "label")
    theirs = output(responses["mlserver"], "predict")
    onnx = output(responses["ours_onnx"], "label")
    if ours != theirs:
        raise RuntimeError(f"predictions differ: modeldeploy-serving {ours}, MLServer {theirs}")
    return {
        "sklearn_labels_equal_mlserver": True,
        "onnx_label_mismatches_vs_sklearn": sum(a != b for a, b in zip(ours, onnx, strict=True)),
    }


def main() -> int:
    wrk = find_wrk()
    tool = f"wrk {wrk_version(wrk)}" if wrk else "built-in asyncio load generator"
    log(f"load generator: {tool}; {CONNECTIONS} connections, {DURATION:g}s per measurement")
    mlserver = mlserver_venv()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        workdir = Path(tmp)
        sklearn_path, onnx_path, features = train_models(workdir)
        sklearn_bodies = request_bodies(features, "input-0", "FP64")
        onnx_bodies = request_bodies(features, "X", "FP32")

        mlserver_dir = workdir / "mlserver"
        (mlserver_dir / "iris").mkdir(parents=True)
        shutil.copy(sklearn_path, mlserver_dir / "iris" / "model.joblib")
        (mlserver_dir / "iris" / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": "iris",
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib", "version": "v1"},
                }
            )
        )

        path = "/v2/models/iris/infer"
        raw: dict[str, dict[str, list[dict[str, Any]]]] = {}
        responses: dict[str, Any] = {}
        for round_index in range(ROUNDS):
            log(f"round {round_index + 1} of {ROUNDS}")
            targets = []
            port = free_port()
            targets.append(
                (
                    "ours_sklearn",
                    [sys.executable, "-m", "modeldeploy_serving"],
                    ours_env(port, sklearn_path.as_uri(), "sklearn", workdir / "cache"),
                    port,
                    sklearn_bodies,
                )
            )
            port = free_port()
            (mlserver_dir / "settings.json").write_text(
                json.dumps(
                    {
                        "http_port": port,
                        "grpc_port": free_port(),
                        "metrics_port": free_port(),
                        "debug": False,
                    }
                )
            )
            targets.append(
                (
                    "mlserver",
                    [str(mlserver), "start", str(mlserver_dir)],
                    {**os.environ},
                    port,
                    sklearn_bodies,
                )
            )
            port = free_port()
            targets.append(
                (
                    "ours_onnx",
                    [sys.executable, "-m", "modeldeploy_serving"],
                    ours_env(port, onnx_path.as_uri(), "onnx", workdir / "cache"),
                    port,
                    onnx_bodies,
                )
            )
            for name, argv, env, port, bodies in targets:
                ready = f"http://127.0.0.1:{port}/v2/models/iris/ready"
                with running(name, argv, env, ready, workdir / f"{name}.log"):
                    responses[name] = http("POST", f"http://127.0.0.1:{port}{path}", bodies[32])
                    for rows in ROWS:
                        result = measure(wrk, port, path, bodies[rows], workdir)
                        if result.errors:
                            raise RuntimeError(f"{name}: {result.errors} failed requests")
                        log(
                            f"  {name:13s} rows={rows:<3d} {result.rps:8.0f} req/s  "
                            f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                        )
                        raw.setdefault(name, {}).setdefault(f"rows_{rows}", []).append(
                            result.as_dict()
                        )
        agreement = check_predictions(responses)

    # Best round per server and case: other work on the machine only ever slows a run down.
    best = {
        server: {case: max(runs, key=lambda r: r["rps"]) for case, runs in cases.items()}
        for server, cases in raw.items()
    }
    throughput_ratios = {
        case: best["ours_sklearn"][case]["rps"] / best["mlserver"][case]["rps"]
        for case in best["mlserver"]
    }
    p99_ratios = {
        case: best["ours_sklearn"][case]["p99_ms"] / best["mlserver"][case]["p99_ms"]
        for case in best["mlserver"]
    }
    results = {
        "throughput_ratio_vs_mlserver": round(min(throughput_ratios.values()), 3),
        "p99_ratio_vs_mlserver": round(max(p99_ratios.values()), 3),
        "throughput_ratio_by_case": {k: round(v, 3) for k, v in throughput_ratios.items()},
        "p99_ratio_by_case": {k: round(v, 3) for k, v in p99_ratios.items()},
        "results": best,
        "rounds": raw,
        "predictions": agreement,
        "setup": {
            "load_generator": tool,
            "connections": CONNECTIONS,
            "duration_s": DURATION,
            "warmup_s": WARMUP,
            "rounds": ROUNDS,
            "model": "LogisticRegression, 4 features, 3 classes",
            "mlserver": f"mlserver {MLSERVER_VERSION} + mlserver-sklearn {MLSERVER_VERSION}",
            "cpus": os.cpu_count(),
            "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_readme(results)
    log(
        f"throughput ratio vs MLServer {results['throughput_ratio_vs_mlserver']}x (worse case), "
        f"p99 ratio {results['p99_ratio_vs_mlserver']} (worse case); wrote {RESULTS}"
    )
    return 0


def wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    words = (completed.stdout + completed.stderr).split()
    return words[1] if len(words) > 1 else ""


def write_readme(results: dict[str, Any]) -> None:
    setup = results["setup"]
    rows = []
    labels = {
        "ours_sklearn": "modeldeploy-serving (sklearn)",
        "mlserver": "MLServer 1.7.1 (sklearn)",
        "ours_onnx": "modeldeploy-serving (ONNX)",
    }
    for case in ("rows_1", "rows_32"):
        for server in ("ours_sklearn", "mlserver", "ours_onnx"):
            r = results["results"][server][case]
            rows.append(
                f"| {case.removeprefix('rows_')} | {labels[server]} | {r['rps']:.0f} | "
                f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} |"
            )
    table = "\n".join(
        [
            TABLE_BEGIN,
            f"Measured {setup['date']} on {setup['cpus']} cores ({setup['machine']}), "
            f"Python {setup['python']}, {setup['load_generator']}, {setup['connections']} "
            f"connections, best of {setup['rounds']} rounds of {setup['duration_s']:g} s.",
            "",
            "| rows/request | server | req/s | p50 ms | p95 ms | p99 ms |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            f"Throughput vs MLServer (worse of the two cases): "
            f"**{results['throughput_ratio_vs_mlserver']}x**; p99 vs MLServer (worse case): "
            f"**{results['p99_ratio_vs_mlserver']}** (below 1 is better).",
            TABLE_END,
        ]
    )
    text = README.read_text() if README.exists() else ""
    if TABLE_BEGIN in text and TABLE_END in text:
        head, rest = text.split(TABLE_BEGIN, 1)
        _, tail = rest.split(TABLE_END, 1)
        text = head + table + tail
    else:
        text = text.rstrip() + "\n\n" + table + "\n"
    README.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
