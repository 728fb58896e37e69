"""The state directory of one cluster: where each file lives, and the record of its ports."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from e2e.localcluster.procs import ProcessRecord


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def record(self) -> Path:
        return self.root / "cluster.json"

    @property
    def processes(self) -> Path:
        return self.root / "processes"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def process_file(self, component: str) -> Path:
        return self.processes / f"{component}.json"

    def load_process(self, component: str) -> ProcessRecord | None:
        return ProcessRecord.load(self.process_file(component))

    def process_files(self) -> list[Path]:
        return sorted(self.processes.glob("*.json")) if self.processes.is_dir() else []


@dataclass(frozen=True)
class ClusterRecord:
    """What a second process needs to find and stop a running cluster."""

    cluster_id: str
    bin_dir: str
    etcd_data_dir: str
    node_name: str
    etcd_client_port: int
    etcd_peer_port: int
    apiserver_port: int
    controller_manager_port: int
    scheduler_port: int
    prometheus_port: int
    model_store_port: int
    # The network namespace (under /run/netns) the whole cluster lives in.
    netns: str
    # What each image the cluster built is called in the node's containerd.
    images: dict[str, str] = dataclasses.field(default_factory=dict)
    # The host's loopback port forwarded to the Gateway `local` (0: a cluster without one).
    gateway_port: int = 0

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def model_store_url(self) -> str:
        """The in-cluster S3 model store, as the host reaches it."""
        return f"http://127.0.0.1:{self.model_store_port}"

    @property
    def gateway_url(self) -> str:
        """The Gateway `local`'s HTTP listener, as the host reaches it."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ClusterRecord | None:
        try:
            data = json.loads(path.read_text())
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in names})
        except (OSError, ValueError, TypeError):
            return None
