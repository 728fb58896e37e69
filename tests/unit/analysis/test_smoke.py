from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.analysis.smoke import (
    MAX_SMOKE_REQUESTS,
    SmokeAnswer,
    assess,
    flatten,
    infer_body,
    judge,
    too_many_requests,
    written_out,
)
from modeldeploy.api.spec import SmokeRequest


def request(name: str = "r", **expect: Any) -> SmokeRequest:
    return SmokeRequest.model_validate(
        {
            "name": name,
            "inputs": [
                {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]}
            ],
            "expect": expect,
        }
    )


def answer(data: Any, name: str = "r", output: str = "output-0", status: int = 200) -> SmokeAnswer:
    return SmokeAnswer(name, "pod-a", status, {"outputs": [{"name": output, "data": data}]})


def test_the_infer_body_is_the_open_inference_protocol_one() -> None:
    body = infer_body(request(labels=["1"]))
    assert body["inputs"] == [
        {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]}
    ]


def test_labels_match_numbers_and_strings() -> None:
    assert judge(request(labels=["1", "2"]), answer([1, 2])) is None
    assert judge(request(labels=["cat", "dog"]), answer(["cat", "dog"])) is None
    failure = judge(request(labels=["1", "2"]), answer([1, 0]))
    assert failure is not None
    assert failure.got == "output-0 = [1, 0]"
    assert failure.pod == "pod-a"
    assert "['1', '2']" in failure.expected


def test_values_match_within_the_tolerance_only() -> None:
    assert judge(request(values=[0.5, 0.25], tolerance=0.01), answer([0.505, 0.25])) is None
    assert judge(request(values=[0.5, 0.25], tolerance=0.01), answer([0.52, 0.25])) is not None
    assert judge(request(values=[0.5]), answer([0.5])) is None
    assert judge(request(values=[0.5]), answer([float("nan")])) is not None
    assert judge(request(values=[1.0]), answer([True])) is not None
    assert judge(request(values=[0.5, 0.5]), answer([0.5])) is not None


def test_a_named_output_is_picked_and_a_missing_one_is_named() -> None:
    assert judge(request(output="label", labels=["1"]), answer([1], output="label")) is None
    failure = judge(request(output="label", labels=["1"]), answer([1], output="output-0"))
    assert failure is not None and "no output 'label'" in failure.got


def test_errors_and_silence_are_failures_that_say_what_came_back() -> None:
    refused = SmokeAnswer("r", "pod-a", 400, {"error": "input-0: expected FP32"})
    failure = judge(request(labels=["1"]), refused)
    assert failure is not None and failure.got == "HTTP 400: input-0: expected FP32"
    silent = SmokeAnswer("r", "pod-a", None, error="timed out after 5s")
    failure = judge(request(labels=["1"]), silent)
    assert failure is not None and failure.got == "no answer: timed out after 5s"
    empty = SmokeAnswer("r", "pod-a", 200, {"outputs": []})
    assert judge(request(labels=["1"]), empty) is not None


def test_the_pass_ratio_decides() -> None:
    requests = [request("a", labels=["1"]), request("b", labels=["1"]), request("c", labels=["1"])]
    answers = [answer([1], "a"), answer([1], "b"), answer([0], "c")]
    assert not assess(requests, answers, 1.0).ok
    outcome = assess(requests, answers, 0.6)
    assert outcome.ok and (outcome.passed, outcome.total) == (2, 3)
    assert "2/3 smoke requests passed" in outcome.summary()
    assert not assess(requests, [], 0.5).ok


@given(st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=4), max_leaves=30))
def test_flatten_keeps_every_leaf_in_order(data: Any) -> None:
    def leaves(node: Any) -> list[Any]:
        return [x for item in node for x in leaves(item)] if isinstance(node, list) else [node]

    assert flatten(data) == leaves(data)


def test_a_smoke_test_sends_at_most_64_requests_in_all() -> None:
    source = "ConfigMap golden key requests.yaml"
    assert too_many_requests(0, MAX_SMOKE_REQUESTS, source) is None
    assert too_many_requests(4, MAX_SMOKE_REQUESTS - 4, source) is None
    assert too_many_requests(0, 65, source) == (
        "ConfigMap golden key requests.yaml holds 65 smoke requests; a smoke test sends at most "
        "64 in all"
    )
    assert too_many_requests(2, 63, source) == (
        "ConfigMap golden key requests.yaml holds 63 smoke requests beside the 2 in "
        "spec.rollout.smokeTest.requests; a smoke test sends at most 64 in all"
    )


@given(st.integers(0, 64), st.integers(0, 200))
def test_the_cap_counts_the_specs_requests_and_the_config_maps_together(
    in_spec: int, loaded: int
) -> None:
    assert (too_many_requests(in_spec, loaded, "x") is None) is (in_spec + loaded <= 64)


def test_values_are_counted_as_written_out() -> None:
    assert written_out(1) == 1
    assert written_out([]) == 1
    assert written_out([1, [2, 3], {"a": 4}]) == 7
    shared = [1, 2, 3]
    assert written_out([shared, shared, {"k": shared}]) == 1 + 4 + 4 + 1 + 4
    nested: list[object] = [1]
    for _ in range(40):
        nested = [nested, nested]
    assert written_out(nested) == 3 * 2**40 - 1
    looped: list[object] = []
    looped.append([looped])
    assert written_out(looped) is None
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert written_out(deep) == 100_001
