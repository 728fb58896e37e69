"""Pod addresses: one 127.x.y.z per pod, from a /16 that no other local cluster uses."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import random
import tempfile
import threading
from pathlib import Path
from typing import IO

# 127.0.x.x holds 127.0.0.1 and the resolver stubs some systems run; 127.1-9 are left to
# whatever else a developer may bind on loopback.
_SECOND_OCTETS = range(10, 250)
LOCK_DIR = Path(tempfile.gettempdir()) / "modeldeploy-localcluster-podnets"


class PoolExhausted(RuntimeError):
    pass


class IpPool:
    """Hands out addresses round-robin, so a freed address is reused as late as possible
    (a process that just died may still hold its port in TIME_WAIT)."""

    def __init__(self, network: ipaddress.IPv4Network) -> None:
        if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
            raise ValueError(f"pod network {network} is not in the loopback range")
        self.network = network
        self._hosts = [h for h in network.hosts() if int(h) & 0xFF not in (0, 255)]
        self._used: set[ipaddress.IPv4Address] = set()
        self._cursor = 0
        self._lock = threading.Lock()

    def reserve(self, address: str) -> bool:
        """Claims a specific address (a pod adopted from an earlier run); False if taken."""
        ip = ipaddress.IPv4Address(address)
        with self._lock:
            if ip not in self.network or ip in self._used:
                return False
            self._used.add(ip)
            return True

    def allocate(self) -> str:
        with self._lock:
            for _ in range(len(self._hosts)):
                ip = self._hosts[self._cursor]
                self._cursor = (self._cursor + 1) % len(self._hosts)
                if ip not in self._used:
                    self._used.add(ip)
                    return str(ip)
        raise PoolExhausted(f"no free address left in {self.network}")

    def release(self, address: str) -> None:
        with self._lock:
            self._used.discard(ipaddress.IPv4Address(address))

    def in_use(self) -> set[str]:
        with self._lock:
            return {str(ip) for ip in self._used}


class NetworkLease:
    """An exclusive claim on a pod network among the local clusters of this machine.

    The claim is an flock held for as long as the agent lives; the kernel drops it when the
    agent dies, however it dies.
    """

    def __init__(self, network: ipaddress.IPv4Network, handle: IO[bytes]) -> None:
        self.network = network
        self._handle = handle

    def close(self) -> None:
        self._handle.close()


def _try_lock(network: ipaddress.IPv4Network, lock_dir: Path) -> NetworkLease | None:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{network.network_address}.lock"
    handle = open(path, "ab")  # noqa: SIM115 - the lease keeps it open for the agent's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    return NetworkLease(network, handle)


def claim_network(preferred: str | None = None, lock_dir: Path = LOCK_DIR) -> NetworkLease:
    """The preferred /16 if given (it must be free), else a free one picked at random."""
    if preferred:
        network = ipaddress.IPv4Network(preferred)
        lease = _try_lock(network, lock_dir)
        if lease is None:
            raise RuntimeError(f"pod network {network} is in use by another local cluster")
        return lease
    octets = list(_SECOND_OCTETS)
    random.shuffle(octets)
    for octet in octets:
        lease = _try_lock(ipaddress.IPv4Network(f"127.{octet}.0.0/16"), lock_dir)
        if lease is not None:
            return lease
    raise RuntimeError("every loopback pod network is claimed by another local cluster")
