"""A kind cluster made ready for the scenarios.

The images are the ones the local cluster runs (built here with buildah, loaded with `kind load
image-archive`); the model store and Prometheus are applied from the same manifests. kind brings
its own pause image, CNI and CoreDNS. The harness reaches pods and Services the way it does on
the local cluster: from inside a network namespace, here the kind node's own, attached under
/run/netns with `ip netns attach`; Prometheus and the model store are forwarded to loopback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from e2e.localcluster import addons, gateway_api, images, procs
from e2e.localcluster import prometheus as prom
from e2e.localcluster.binaries import find_bin_dir, find_go_binaries, go_binary
from e2e.localcluster.forward import forward_argv
from e2e.localcluster.kubeconfig import run_kubectl
from e2e.localcluster.netns import NetworkNamespace
from e2e.localcluster.ports import free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("kind-config.yaml")
KIND_MODULE = ("sigs.k8s.io/kind", "v0.33.0")
DEFAULT_NAME = "modeldeploy-e2e"
DEFAULT_STATE_DIR = REPO_ROOT / ".cluster" / "kind"
# kind's node image has its own pause image and CoreDNS.
LOADED_IMAGES = ("operator", "serving", "s3", "prometheus")
PROMETHEUS_DATA = "/var/lib/modeldeploy/prometheus-data"
FORWARDERS = ("forward-prometheus", "forward-model-store")
START_TIMEOUT_S = 300


class KindError(RuntimeError):
    pass


@dataclass(frozen=True)
class KindRecord:
    name: str
    bin_dir: str
    netns: str
    prometheus_port: int
    model_store_port: int
    scrape_interval: str
    images: dict[str, str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> KindRecord:
        return cls(**json.loads(path.read_text()))


def _run(argv: list[str], what: str, timeout_s: float = START_TIMEOUT_S) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout_s)
    if result.returncode != 0:
        raise KindError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


class KindCluster:
    """A kind cluster and what the harness keeps beside it in state_dir."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR, name: str = DEFAULT_NAME) -> None:
        self.state_dir = state_dir
        self.name = name
        self._record: KindRecord | None = None

    @classmethod
    def attach(cls, state_dir: Path) -> KindCluster:
        record = KindRecord.load(state_dir / "cluster.json")
        cluster = cls(state_dir, record.name)
        cluster._record = record
        return cluster

    @property
    def record(self) -> KindRecord:
        if self._record is None:
            raise KindError(f"no kind cluster recorded in {self.state_dir}")
        return self._record

    @property
    def node(self) -> str:
        return f"{self.name}-control-plane"

    # What the scenarios use, as on the local cluster --------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def bin_dir(self) -> Path:
        return Path(self.record.bin_dir)

    @property
    def netns(self) -> NetworkNamespace:
        return NetworkNamespace(self.record.netns)

    @property
    def images(self) -> dict[str, str]:
        return self.record.images

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.record.prometheus_port}"

    @property
    def model_store_url(self) -> str:
        return f"http://127.0.0.1:{self.record.model_store_port}"

    @property
    def prometheus(self) -> prom.InClusterPrometheus:
        return prom.InClusterPrometheus(
            self.kubectl, self.prometheus_url, self.record.scrape_interval
        )

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        return run_kubectl(self.bin_dir / "kubectl", self.kubeconfig, *args, input_text=input_text)

    # Up and down --------------------------------------------------------------------------

    def up(self, scrape_interval: str = "2s") -> None:
        for tool in ("docker", "ip"):
            _run(["sh", "-c", f"command -v {tool}"], f"looking for {tool}")
        kind = str(go_binary("kind", *KIND_MODULE))
        built = images.build_all(find_go_binaries())
        self.state_dir.mkdir(parents=True, exist_ok=True)
        prometheus_port, model_store_port = free_ports(2)
        self._record = KindRecord(
            name=self.name,
            bin_dir=str(find_bin_dir()),
            netns=f"modeldeploy-kind-{self.name}",
            prometheus_port=prometheus_port,
            model_store_port=model_store_port,
            scrape_interval=scrape_interval,
            images={key: ref for key, (ref, _) in built.items()},
        )
        self.record.save(self.state_dir / "cluster.json")
        _run(
            [kind, "create", "cluster", f"--name={self.name}", f"--config={CONFIG}",
             f"--kubeconfig={self.kubeconfig}", f"--wait={START_TIMEOUT_S}s"],
            "kind create cluster",
        )  # fmt: skip
        for key in LOADED_IMAGES:
            _run([kind, "load", "image-archive", str(built[key][1]), f"--name={self.name}"],
                 f"loading the {key} image")  # fmt: skip
        gateway_api.install(self.bin_dir / "kubectl", self.kubeconfig, gateway_api.crd_dir())
        _run(
            ["docker", "exec", self.node, "sh", "-c",
             f"mkdir -p {PROMETHEUS_DATA} && chown 65534:65534 {PROMETHEUS_DATA}"],
            "making Prometheus' data directory on the node",
        )  # fmt: skip
        manifests = addons.model_store_manifests(built["s3"][0])
        self.kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": manifests}))  # fmt: skip
        self.prometheus.install(built["prometheus"][0], Path(PROMETHEUS_DATA))
        pid = _run(["docker", "inspect", "-f", "{{.State.Pid}}", self.node], "docker inspect")
        self.netns.delete()
        _run(["ip", "netns", "attach", self.netns.name, pid.strip()], "ip netns attach")
        self._forward("forward-prometheus", prometheus_port,
                      prom.PROMETHEUS_SERVICE_IP, prom.PROMETHEUS_PORT)  # fmt: skip
        self._forward("forward-model-store", model_store_port,
                      addons.MODEL_STORE_SERVICE_IP, addons.MODEL_STORE_PORT)  # fmt: skip
        self.prometheus.wait_ready(START_TIMEOUT_S)
        addons.wait_model_store(self.model_store_url, START_TIMEOUT_S)

    def _forward(self, name: str, port: int, host: str, target_port: int) -> None:
        argv = forward_argv(port, self.netns.path, host, target_port)
        _, record = procs.spawn(name, argv, self.state_dir / "logs" / f"{name}.log", cwd=REPO_ROOT)
        record.save(self.state_dir / f"{name}.json")

    def down(self) -> None:
        for name in FORWARDERS:
            record = procs.ProcessRecord.load(self.state_dir / f"{name}.json")
            if record is not None:
                procs.stop_record(record, grace_s=5)
        # Deleting the attached name leaves the node's namespace to its container.
        NetworkNamespace(f"modeldeploy-kind-{self.name}").delete()
        kind = str(go_binary("kind", *KIND_MODULE))
        _run([kind, "delete", "cluster", f"--name={self.name}"], "kind delete cluster")
        (self.state_dir / "cluster.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.kind")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    cluster = KindCluster(args.state_dir.resolve(), args.name)
    started = time.monotonic()
    try:
        if args.command == "up":
            cluster.up()
            print(f"kind cluster {args.name} ready in {time.monotonic() - started:.0f}s")
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        else:
            cluster.down()
    except KindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
