"""The Node object and its heartbeats: status conditions and the Lease in kube-node-lease."""

from __future__ import annotations

import datetime
import logging
import os
import platform
import threading
import uuid
from typing import Any

from e2e.localcluster.node_agent.kube import Kube

log = logging.getLogger(__name__)

HOST_IP = "127.0.0.1"
KUBELET_VERSION = "v1.37.1"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
HEARTBEAT_INTERVAL_S = 10.0
CAPACITY = {"cpu": "8", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"}

_GOOD_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def node_labels(name: str) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": _arch(),
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": _arch(),
        "node.kubernetes.io/instance-type": "localprocess",
    }


def node_status(name: str) -> dict[str, Any]:
    now = _now()
    return {
        "capacity": dict(CAPACITY),
        "allocatable": dict(CAPACITY),
        "conditions": [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for kind, status, reason, message in _GOOD_CONDITIONS
        ],
        "addresses": [
            {"type": "InternalIP", "address": HOST_IP},
            {"type": "Hostname", "address": name},
        ],
        "nodeInfo": {
            "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            "bootID": str(uuid.uuid4()),
            "kernelVersion": os.uname().release,
            "osImage": "local processes (modeldeploy node agent)",
            "containerRuntimeVersion": "localprocess://1.0.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": _arch(),
        },
    }


def node_manifest(name: str, pod_cidr: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name)},
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": node_status(name),
    }


def heartbeat_patch() -> dict[str, Any]:
    now = _now()
    # Conditions merge by type: only the heartbeat moves, transition times stay.
    return {
        "status": {
            "conditions": [
                {"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": now}
                for kind, status, reason, _ in _GOOD_CONDITIONS
            ]
        }
    }


class NodeHeartbeat:
    def __init__(self, kube: Kube, name: str, pod_cidr: str) -> None:
        self.kube = kube
        self.name = name
        self.pod_cidr = pod_cidr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="node-heartbeat", daemon=True)
        self._node_uid = ""

    def register(self) -> None:
        node = self.kube.get_node(self.name)
        if node is None:
            node = self.kube.create_node(node_manifest(self.name, self.pod_cidr))
            log.info("registered node %s (pod network %s)", self.name, self.pod_cidr)
        else:
            self.kube.patch_node(self.name, {"metadata": {"labels": node_labels(self.name)}})
            node = self.kube.patch_node_status(self.name, {"status": node_status(self.name)})
            log.info("re-registered node %s", self.name)
        self._node_uid = str(node["metadata"]["uid"])
        self._renew_lease()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _renew_lease(self) -> None:
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": _micro_now(),
        }
        if self.kube.get_lease(LEASE_NAMESPACE, self.name) is None:
            owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self._node_uid}
            self.kube.create_lease(
                LEASE_NAMESPACE,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": LEASE_NAMESPACE,
                        "ownerReferences": [owner],
                    },
                    "spec": spec,
                },
            )
        else:
            self.kube.patch_lease(LEASE_NAMESPACE, self.name, {"spec": spec})

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL_S):
            try:
                self._renew_lease()
                self.kube.patch_node_status(self.name, heartbeat_patch())
            except Exception:
                log.exception("node heartbeat failed; retrying")
