import pytest

from e2e.localcluster.node_agent.backoff import BackoffPolicy, exit_code_of, should_restart


def test_kubelet_back_off_sequence() -> None:
    policy = BackoffPolicy()
    assert [policy.delay(n) for n in range(8)] == [0, 10, 20, 40, 80, 160, 300, 300]


def test_shorter_base_for_tests() -> None:
    assert [BackoffPolicy(base_s=0.5, cap_s=2).delay(n) for n in range(5)] == [0, 0.5, 1, 2, 2]


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_signal_deaths_become_128_plus_signal() -> None:
    assert exit_code_of(-15) == 143
    assert exit_code_of(-9) == 137
    assert exit_code_of(3) == 3
