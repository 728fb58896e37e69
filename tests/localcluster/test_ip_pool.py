import ipaddress
from pathlib import Path

import pytest

from e2e.localcluster.node_agent.ip_pool import IpPool, PoolExhausted, claim_network


def test_allocates_unique_addresses_round_robin() -> None:
    pool = IpPool(ipaddress.IPv4Network("127.30.0.0/29"))
    first = [pool.allocate() for _ in range(3)]
    assert first == ["127.30.0.1", "127.30.0.2", "127.30.0.3"]
    pool.release("127.30.0.1")
    # A freed address comes back only after the others.
    assert pool.allocate() == "127.30.0.4"
    assert pool.reserve("127.30.0.5")
    assert not pool.reserve("127.30.0.5")
    assert not pool.reserve("127.31.0.1")
    assert pool.allocate() == "127.30.0.6"
    assert pool.allocate() == "127.30.0.1"
    with pytest.raises(PoolExhausted):
        pool.allocate()


def test_skips_dot_zero_and_dot_255() -> None:
    pool = IpPool(ipaddress.IPv4Network("127.30.0.0/23"))
    addresses = {pool.allocate() for _ in range(508)}
    assert not any(a.endswith((".0", ".255")) for a in addresses)


def test_refuses_non_loopback_networks() -> None:
    with pytest.raises(ValueError):
        IpPool(ipaddress.IPv4Network("10.0.0.0/24"))


def test_networks_are_claimed_exclusively(tmp_path: Path) -> None:
    first = claim_network(lock_dir=tmp_path)
    second = claim_network(lock_dir=tmp_path)
    assert first.network != second.network
    with pytest.raises(RuntimeError):
        claim_network(str(first.network), lock_dir=tmp_path)
    first.close()
    again = claim_network(str(first.network), lock_dir=tmp_path)
    assert again.network == first.network
    again.close()
    second.close()
