"""The smoke requests a ConfigMap holds: no more, and no more data, than a smoke test sends."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from modeldeploy.analysis.smoke import SMOKE_DEADLINE_S
from modeldeploy.api.spec import SmokeTestSpec
from modeldeploy.rollout import FAIL, PreflightRecord
from modeldeploy.shell.pod_http import Pod
from modeldeploy.shell.preflight import _requests_from, _smoke_test

REQUEST = {
    "name": "r",
    "inputs": [{"name": "input-0", "shape": [1, 1], "datatype": "FP64", "data": [[1.0]]}],
    "expect": {"labels": ["1"]},
}


class ConfigMaps:
    def __init__(self, text: str | None) -> None:
        self.text = text

    def get_config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.text


def smoke(in_spec: int = 0) -> SmokeTestSpec:
    raw: dict[str, Any] = {
        "requestsFrom": {"configMapKeyRef": {"name": "golden", "key": "requests.yaml"}}
    }
    if in_spec:
        raw["requests"] = [{**REQUEST, "name": f"s{i}"} for i in range(in_spec)]
    return SmokeTestSpec.model_validate(raw)


def read(text: str | None, in_spec: int = 0) -> list[Any]:
    return _requests_from(ConfigMaps(text), "ml", smoke(in_spec))  # type: ignore[arg-type]


def requests(count: int) -> str:
    return yaml.safe_dump([{**REQUEST, "name": f"r{i}"} for i in range(count)])


def test_up_to_the_cap_the_requests_are_read() -> None:
    assert len(read(requests(64))) == 64
    assert len(read(requests(60), in_spec=4)) == 60


def test_more_than_the_cap_is_refused_before_any_is_read() -> None:
    with pytest.raises(ValueError, match="holds 65 smoke requests; a smoke test sends at most 64"):
        read(requests(65))
    with pytest.raises(ValueError, match="holds 61 smoke requests beside the 4 in spec"):
        read(requests(61), in_spec=4)
    # Counted before they are validated: a long list of anything is refused for its length.
    with pytest.raises(ValueError, match="holds 5000 smoke requests"):
        read(yaml.safe_dump([0] * 5000))


def test_aliases_that_stand_for_more_data_than_a_config_map_holds_are_refused() -> None:
    lines = ["- &a0 [1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"- &a{n} [{', '.join([f'*a{n - 1}'] * 8)}]" for n in range(1, 9)]
    with pytest.raises(ValueError, match=r"holds \d+ values written out \(with its aliases\)"):
        read("\n".join(lines))
    with pytest.raises(ValueError, match="holds a list or map that contains itself"):
        read("- &a [*a]")


def test_a_missing_key_and_a_wrong_shape_say_so() -> None:
    with pytest.raises(ValueError, match=r"ConfigMap golden has no key requests\.yaml"):
        read(None)
    with pytest.raises(ValueError, match="is not a list of smoke requests"):
        read("{}")


def test_more_than_a_mebibyte_is_refused_before_it_is_parsed() -> None:
    padding = "# " + "x" * (1 << 20) + "\n"
    with pytest.raises(ValueError, match=r"holds \d+ bytes; a smoke test reads at most 1048576"):
        read(padding + requests(1))


class SlowPods:
    """Pods that each take `delay_s` of a clock to answer, whatever the timeout allows."""

    def __init__(self, clock: list[float], delay_s: float) -> None:
        self.clock = clock
        self.delay_s = delay_s
        self.timeouts: list[float] = []

    def request(
        self, pod: Pod, port: int, method: str, path: str, body: Any, timeout_s: float
    ) -> tuple[int, Any]:
        self.timeouts.append(timeout_s)
        self.clock[0] += min(self.delay_s, timeout_s)
        return 200, {"outputs": [{"name": "label", "data": ["1"]}]}


def test_a_smoke_test_stops_at_its_deadline_and_fails() -> None:
    now = [0.0]
    pods = SlowPods(now, delay_s=25.0)
    smoke = SmokeTestSpec.model_validate(
        {"timeout": "30s", "requests": [{**REQUEST, "name": f"s{i}"} for i in range(6)]}
    )
    outcome = _smoke_test(
        ConfigMaps(None),  # type: ignore[arg-type]
        pods,
        "ml",
        [Pod("ml", "iris-1", "10.0.0.1")],
        8080,
        "iris",
        smoke,
        PreflightRecord(),
        clock=lambda: now[0],
    )
    # 25 s each: the third has the 10 s left, and nothing more is sent.
    assert pods.timeouts == [30.0, 30.0, 10.0]
    assert now[0] == SMOKE_DEADLINE_S
    assert outcome.verdict == FAIL
    assert "not sent" in str(outcome.record.failures)
