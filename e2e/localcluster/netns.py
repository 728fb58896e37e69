"""The cluster's network namespace: every component, pod and Service address lives inside it.

Nothing the cluster does sends traffic outside the namespace: the node's address sits on a
veth pair inside it, pods hang off a bridge inside it, and the Service range is routed to that
same veth. The host reaches the API server and Prometheus through loopback forwarders
(`forward.py`); code in the host that must talk to pods directly runs in a thread that has
entered the namespace (`NetworkNamespace.executor`).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000

# Addresses inside the namespace; they never appear outside it, so every cluster may use them.
NODE_IP = "172.30.0.2"
NODE_PEER_IP = "172.30.0.3"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.0.0.0/16"
NODE_LINK = "mdnode0"
NODE_PEER_LINK = "mdnode1"


class NetnsError(RuntimeError):
    pass


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def enter(path: Path) -> None:
    """Moves the calling thread (only it) into the network namespace at path."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


@dataclass(frozen=True)
class NetworkNamespace:
    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        """The namespace with loopback up, the node's address and a route for Services."""
        if self.exists():
            self.delete()
        _ip("netns", "add", self.name)
        ns = ("-n", self.name)
        _ip(*ns, "link", "set", "lo", "up")
        # `dummy` links are not available here; one end of a veth pair carries the node IP.
        _ip(*ns, "link", "add", NODE_LINK, "type", "veth", "peer", "name", NODE_PEER_LINK)
        _ip(*ns, "addr", "add", f"{NODE_IP}/24", "dev", NODE_LINK)
        _ip(*ns, "addr", "add", f"{NODE_PEER_IP}/24", "dev", NODE_PEER_LINK)
        _ip(*ns, "link", "set", NODE_LINK, "up")
        _ip(*ns, "link", "set", NODE_PEER_LINK, "up")
        # kube-proxy rewrites Service addresses in OUTPUT and PREROUTING, but a packet must
        # have a route before it reaches either.
        _ip(*ns, "route", "add", SERVICE_CIDR, "dev", NODE_LINK, "src", NODE_IP)

    def delete(self) -> None:
        if self.exists():
            _ip("netns", "delete", self.name)

    def argv(self, argv: list[str]) -> list[str]:
        """argv run inside the namespace. nsenter, not `ip netns exec`: the latter remounts
        /sys and would hide the cgroup hierarchies from the kubelet."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def executor(self, workers: int = 4) -> concurrent.futures.ThreadPoolExecutor:
        """Threads that live inside the namespace: sockets they open connect to its addresses."""
        return concurrent.futures.ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix=f"netns-{self.name}",
            initializer=enter,
            initargs=(self.path,),
        )

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """fn() run in a thread inside the namespace."""
        with self.executor(1) as pool:
            return pool.submit(fn).result(timeout=timeout)
