"""How long a client's keep-alive connection may last, in responses.

A Kubernetes Service balances connections, not requests: kube-proxy (iptables or IPVS) picks a
pod when a connection opens, and every request on that connection goes to the same pod. A
client that pools its connections (most HTTP libraries do) therefore stays on the pods it
happened to reach first: a canary whose pods came up after the client connected gets nothing
from it, whatever share of the ready pods it holds. Answering the last allowed request of a
connection with `Connection: close` makes the client open a new one, which kube-proxy places
again, so over many connections each client's traffic follows the share of ready pods.
"""

from __future__ import annotations

from collections.abc import Sequence

Peer = Sequence[object] | None
"""The ASGI scope's `client`: (host, port) of the connection's far end, or None."""

# Connections that end without reaching the limit (the client closed them) leave their count
# behind; the oldest counts are dropped past this many, so the table stays small however many
# clients come and go. A live connection whose count was dropped starts counting again.
MAX_TRACKED_CONNECTIONS = 4096


class ConnectionBudget:
    """Counts the responses of each connection and says which one is to be its last.

    Connections are told apart by the peer's address and port, which are unique among the
    connections open at one time. Used from the event loop only, so it needs no lock.
    """

    def __init__(self, max_requests: int, max_tracked: int = MAX_TRACKED_CONNECTIONS) -> None:
        self.max_requests = max_requests
        self.max_tracked = max_tracked
        self._counts: dict[tuple[object, ...], int] = {}

    def last_response(self, peer: Peer) -> bool:
        """Counts one response on the connection from `peer`; True when it should close the
        connection (and forgets the connection then)."""
        if self.max_requests <= 0 or not peer:
            return False
        key = tuple(peer)
        # Popped and put back, so that the dict's order is the order of last use.
        count = self._counts.pop(key, 0) + 1
        if count >= self.max_requests:
            return True
        self._counts[key] = count
        if len(self._counts) > self.max_tracked:
            del self._counts[next(iter(self._counts))]
        return False

    def tracked(self) -> int:
        return len(self._counts)
