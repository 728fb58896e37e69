"""The operator as installed by its Helm chart, seen from a test: its replicas, which one leads,
their metrics and logs, and ways to kill them."""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from kubernetes.client.exceptions import ApiException

from e2e.fixtures import (
    Cluster,
    Metrics,
    kubectl_binary,
    parse_metrics,
    reconciled_in,
    requests_in,
    wait_for,
)
from e2e.operator_install import LEASE, NAMESPACE, RELEASE, install_operator

METRICS_PORT = 8383
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"


@dataclass
class InClusterOperator:
    cluster: Cluster
    replicas: int = 2
    namespace: str = NAMESPACE

    @classmethod
    def install(cls, cluster: Cluster, *values: str) -> InClusterOperator:
        install_operator(cluster.kubeconfig, values)
        return cls(cluster)

    # Replicas -----------------------------------------------------------------------------

    def pods(self) -> list[Any]:
        """Running replicas, not being deleted."""
        listed: Any = self.cluster.core.list_namespaced_pod(self.namespace, label_selector=SELECTOR)
        return [
            p
            for p in listed.items
            if p.status.phase == "Running" and not p.metadata.deletion_timestamp
        ]

    def lease_holder(self) -> str:
        lease: Any = self.cluster.get_json(
            f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{LEASE}"
        )
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

    def lease_renewed_at(self) -> float:
        """When the holder last renewed the Lease, as a Unix time; 0 when never."""
        lease: Any = self.cluster.get_json(
            f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{LEASE}"
        )
        renewed = ((lease or {}).get("spec") or {}).get("renewTime")
        if not renewed:
            return 0.0
        return datetime.fromisoformat(renewed.replace("Z", "+00:00")).timestamp()

    def leader_pod(self) -> str | None:
        """The replica holding the Lease (a replica's identity is its pod's name)."""
        holder = self.lease_holder()
        return holder if holder in {p.metadata.name for p in self.pods()} else None

    def standby_pods(self) -> list[str]:
        leader = self.leader_pod()
        return [p.metadata.name for p in self.pods() if p.metadata.name != leader]

    # Observation --------------------------------------------------------------------------

    def metrics(self, pod: str | None = None) -> Metrics:
        """A replica's own metrics (the leader's by default): (name, sorted labels) -> value.
        Raises ConnectionError while there is no such replica."""
        name = pod or self.leader_pod()
        ip = next(
            (p.status.pod_ip for p in self.pods() if p.metadata.name == name and p.status.pod_ip),
            None,
        )
        if ip is None:
            raise requests.ConnectionError(f"no running operator replica {name!r}")
        url = f"http://{ip}:{METRICS_PORT}/metrics"
        return parse_metrics(self.cluster.netns.call(lambda: _get_text(url)))

    def reconciled(self) -> set[tuple[str, str]]:
        """Objects the leader has reconciled at least once (none while there is no leader)."""
        try:
            return reconciled_in(self.metrics())
        except (requests.RequestException, OSError):
            return set()

    def requests_made(self, pod: str | None = None) -> dict[str, float]:
        """API requests a replica made outside its watches, by "verb resource"."""
        return requests_in(self.metrics(pod))

    def log_tail(self, lines: int = 80) -> str:
        result = subprocess.run(
            [
                kubectl_binary(),
                f"--kubeconfig={self.cluster.kubeconfig}",
                "-n",
                self.namespace,
                "logs",
                "-l",
                SELECTOR,
                "--prefix",
                f"--tail={lines}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return result.stdout + result.stderr

    # Faults -------------------------------------------------------------------------------

    def kill_pod(self, pod: str) -> None:
        """SIGKILL, as a node losing the pod would: deleted with no grace period."""
        with contextlib.suppress(ApiException):
            self.cluster.core.delete_namespaced_pod(
                pod, self.namespace, grace_period_seconds=0, _preload_content=False
            )

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """No other test strikes the replicas meanwhile. Tests that kill replicas run side by
        side on one cluster; one whose promise is timed from its own fault (a rollback within
        an interval of the leader's death) holds this while it measures, and the others take
        it around each of their faults."""
        with (self.cluster.kubeconfig.parent / "operator-faults.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def kill_leader(self) -> str:
        leader = wait_for(self.leader_pod, 60, "an operator replica leads")
        self.kill_pod(leader)
        return leader

    def _scale(self, replicas: int) -> None:
        self.cluster.apps.patch_namespaced_deployment_scale(
            RELEASE, self.namespace, {"spec": {"replicas": replicas}}
        )

    def stop(self, kill: bool = False) -> None:
        """Every replica gone: killed at once, or ended gracefully."""
        self._scale(0)
        if kill:
            for pod in self.pods():
                self.kill_pod(pod.metadata.name)
        wait_for(lambda: not self.pods() or None, 60, "no operator replica left", interval=0.2)

    def restart(self, *_: Any) -> None:
        """Stopped if it is not, then back to its replicas, waiting until one of them leads."""
        if self.pods():
            self.stop()
        self._scale(self.replicas)
        wait_for(self.leader_pod, 90, "an operator replica leads", interval=0.2)


def _get_text(url: str) -> str:
    session = requests.Session()
    session.trust_env = False
    with session:
        response = session.get(url, timeout=5)
        response.raise_for_status()
        return response.text


def wait_leader_changed(operator: InClusterOperator, old: str, timeout_s: float) -> float:
    """Seconds until a replica other than `old` holds the Lease."""
    began = time.monotonic()
    wait_for(
        lambda: (operator.leader_pod() or old) != old or None,
        timeout_s,
        f"a replica other than {old} leads",
        interval=0.2,
    )
    return time.monotonic() - began
