"""Where the operator may send a notification: never to itself, the node or the cloud's
metadata service, and to the cluster's own network only where the operator was started allowing
it.

A webhook URL is an address a namespace's author hands the operator, which POSTs to it from
inside the cluster: left unchecked, it reaches what the author cannot (the metadata service at
169.254.169.254, the API server, another team's Services). The URL is judged twice: at apply,
by what it says (a literal address, `localhost`, an in-cluster name), and at send time, by
every address its host resolves to, the one connected to being one of those checked.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Private ranges besides RFC 1918 and IPv6 ULA, which `is_private` covers: the shared address
# space carriers and many clusters' pod networks use.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_CLUSTER_SUFFIXES = (".svc", ".cluster.local", ".svc.cluster.local")
_METADATA_NAMES = ("metadata", "metadata.google.internal")


@dataclass(frozen=True)
class TargetRules:
    """What the operator was started allowing."""

    allow_private: bool = False
    """Private and in-cluster targets (RFC 1918, the Service CIDR, `*.svc`, `*.cluster.local`)
    are allowed; loopback, link-local and unspecified addresses never are."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names allowed whatever they resolve to (`name` exactly, `.suffix` for any name
    under it)."""
    allowed_networks: tuple[Network, ...] = ()
    """Addresses allowed whatever range they are in."""
    private_networks: tuple[Network, ...] = ()
    """Further ranges that count as in-cluster (the Service CIDR)."""
    from_secrets: bool = True
    """A URL may come from a Secret (urlFrom); false where the operator may read no Secrets."""

    @classmethod
    def parse(cls, allow_private: bool, allowed: str = "", service_cidrs: str = "") -> TargetRules:
        """From comma-separated lists; raises ValueError naming an entry that is neither a host
        name nor a CIDR."""
        hosts: list[str] = []
        networks: list[Network] = []
        for entry in (e.strip().lower() for e in allowed.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or ":" in entry or " " in entry:
                    raise ValueError(
                        f"allowed notification target {entry!r}: no host or CIDR"
                    ) from None
                hosts.append(entry)
        private = [
            ipaddress.ip_network(e.strip(), strict=False)
            for e in service_cidrs.split(",")
            if e.strip()
        ]
        return cls(allow_private, tuple(hosts), tuple(networks), tuple(private))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == entry or (entry.startswith(".") and host.endswith(entry))
            for entry in self.allowed_hosts
        )

    def address_allowed(self, address: Address) -> bool:
        return any(address in network for network in self.allowed_networks)


STRICT = TargetRules()

ALLOW_HINT = (
    "the operator sends to private or in-cluster addresses only where it was started allowing "
    "them (chart values notifications.allowPrivateTargets, notifications.allowedTargets)"
)


def literal_address(host: str) -> Address | None:
    """The address a host written as one stands for, in any form a resolver takes (dotted,
    decimal `2130706433`, hex `0x7f.1`); None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if (
        host
        and all(c in "0123456789abcdefx." for c in host.lower())
        and any(c.isdigit() for c in host)
    ):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def address_problem(address: Address, rules: TargetRules) -> str | None:
    """Why no notification goes to `address`; None when one may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if rules.address_allowed(address):
        return None
    if address.is_loopback:
        return f"{address} is a loopback address"
    if address.is_link_local:
        return f"{address} is link-local (the cloud's metadata service lives there)"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return f"{address} is no address to send to"
    in_cluster = (
        address.is_private
        or address in _SHARED
        or any(address in network for network in rules.private_networks)
    )
    if in_cluster and not rules.allow_private:
        return f"{address} is a private address; {ALLOW_HINT}"
    return None


def host_of(url: str) -> str:
    """The host a URL names, for logs and messages that must not carry the whole URL (its
    path or query may hold a token)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def url_problem(url: str, rules: TargetRules = STRICT) -> str | None:
    """Why a notification URL is refused at apply, by what it says; None when it is taken."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as error:
        return f"not a URL: {error}"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs are sent to"
    if not host:
        return "the URL names no host"
    if parts.username is not None or parts.password is not None:
        return "credentials belong in a Secret (urlFrom), not in the URL"
    address = literal_address(host)
    if address is not None:
        problem = address_problem(address, rules)
        return f"host {problem}" if problem else None
    if rules.host_allowed(host):
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return f"host {host} is this machine"
    if host in _METADATA_NAMES:
        return f"host {host} is the cloud's metadata service"
    in_cluster = "." not in host or host.endswith(_CLUSTER_SUFFIXES)
    if in_cluster and not rules.allow_private:
        return f"host {host} is an in-cluster name; {ALLOW_HINT}"
    return None
