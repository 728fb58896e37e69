"""The smoke test's verdict: golden requests, what came back, and whether enough passed.

Pure: the shell sends the requests (`preflight`) and hands the answers in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy.api import status as api_status
from modeldeploy.api.spec import SmokeExpectation, SmokeRequest

SHOWN_CHARS = 240
# Requests one smoke test sends, in the spec and from its ConfigMap together (the spec alone
# holds no more, by its schema): a preflight stays a few seconds' work.
MAX_SMOKE_REQUESTS = 64
# Values (numbers, strings, lists, maps) in a smoke test's requests written out in full: more
# than a ConfigMap of 1 MiB holds without aliases (YAML's `*name`, which a few lines of can make
# stand for billions).
MAX_SMOKE_VALUES = 1 << 20
# Bytes of smoke requests a ConfigMap key may hold (a ConfigMap holds at most 1 MiB in all).
MAX_SMOKE_BYTES = 1 << 20
# Seconds one smoke test may take in all, whatever its per-request timeout: the preflight runs
# on a reconcile worker, which serves every other object too.
SMOKE_DEADLINE_S = 60.0


def too_many_bytes(size: int, source: str) -> str | None:
    """Why `size` bytes of smoke requests are more than a smoke test reads, or None."""
    if size <= MAX_SMOKE_BYTES:
        return None
    return f"{source} holds {size} bytes; a smoke test reads at most {MAX_SMOKE_BYTES} (1 MiB)"


@dataclass(frozen=True)
class SmokeAnswer:
    """What one pod answered to one smoke request; `status` is None when nothing came back."""

    request: str
    pod: str | None
    status: int | None
    body: Any = None
    error: str = ""


@dataclass(frozen=True)
class SmokeFailure:
    request: str
    pod: str | None
    expected: str
    got: str

    def to_status(self) -> api_status.SmokeFailure:
        return api_status.SmokeFailure(
            request=self.request, pod=self.pod, expected=self.expected, got=self.got
        )


@dataclass(frozen=True)
class SmokeOutcome:
    passed: int
    total: int
    pass_ratio: float
    failures: list[SmokeFailure]

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed >= math.ceil(self.pass_ratio * self.total - 1e-9)

    def summary(self) -> str:
        text = f"{self.passed}/{self.total} smoke requests passed (needed {self.pass_ratio:.0%})"
        if self.failures:
            first = self.failures[0]
            where = f" on {first.pod}" if first.pod else ""
            text += f"; {first.request}{where}: expected {first.expected}, got {first.got}"
        return text


def too_many_requests(in_spec: int, loaded: int, source: str) -> str | None:
    """Why `in_spec` requests written in the spec and `loaded` read from `source` are more
    than a smoke test sends, or None when they are not."""
    if in_spec + loaded <= MAX_SMOKE_REQUESTS:
        return None
    beside = f" beside the {in_spec} in spec.rollout.smokeTest.requests" if in_spec else ""
    return (
        f"{source} holds {loaded} smoke requests{beside}; a smoke test sends at most "
        f"{MAX_SMOKE_REQUESTS} in all"
    )


def written_out(value: Any) -> int | None:
    """How many values `value` holds when written out in full, each list or map that stands in
    more than one place counted in each; None when one contains itself."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, list | dict):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if finished:
            sizes[id(node)] = 1 + sum(
                sizes[id(c)] if isinstance(c, list | dict) else 1 for c in children
            )
            entered.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        if id(node) in entered:
            return None
        entered.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    return sizes.get(id(value), 1)


def too_large(value: Any, source: str) -> str | None:
    """Why the requests read from `source` are more data than a smoke test sends, if they are."""
    size = written_out(value)
    if size is None:
        return f"{source} holds a list or map that contains itself"
    if size > MAX_SMOKE_VALUES:
        return (
            f"{source} holds {size} values written out (with its aliases); smoke requests hold "
            f"at most {MAX_SMOKE_VALUES}"
        )
    return None


def infer_body(request: SmokeRequest) -> dict[str, Any]:
    """The Open Inference Protocol v2 infer body of a smoke request."""
    return {
        "id": f"smoke-{request.name}",
        "inputs": [
            {"name": i.name, "shape": list(i.shape), "datatype": i.datatype.value, "data": i.data}
            for i in request.inputs
        ],
    }


def flatten(data: Any) -> list[Any]:
    """Tensor data in row-major order, whether sent nested or flat."""
    if isinstance(data, list):
        return [item for element in data for item in flatten(element)]
    return [data]


def describe_expectation(expect: SmokeExpectation) -> str:
    output = expect.output or "the first output"
    if expect.labels is not None:
        return _clip(f"{output} = {expect.labels}")
    values = [_number(v) for v in expect.values or []]
    within = f" ± {_number(expect.tolerance)}" if expect.tolerance else ""
    return _clip(f"{output} = [{', '.join(values)}]{within}")


def judge(request: SmokeRequest, answer: SmokeAnswer) -> SmokeFailure | None:
    """None when the answer holds what the request expects, else what went wrong."""
    expected = describe_expectation(request.expect)

    def failed(got: str) -> SmokeFailure:
        return SmokeFailure(request.name, answer.pod, expected, _clip(got))

    if answer.status is None:
        return failed(f"no answer: {answer.error}")
    if answer.status != 200:
        return failed(f"HTTP {answer.status}: {_error_text(answer.body)}")
    outputs = answer.body.get("outputs") if isinstance(answer.body, dict) else None
    if not isinstance(outputs, list) or not outputs:
        return failed("an answer without outputs")
    output = _pick(outputs, request.expect.output)
    if output is None:
        names = [o.get("name") for o in outputs if isinstance(o, dict)]
        return failed(f"no output {request.expect.output!r} (outputs: {names})")
    got = flatten(output.get("data"))
    shown = f"{output.get('name')} = {_show(got)}"
    if not _matches(request.expect, got):
        return failed(shown)
    return None


def assess(
    requests: Sequence[SmokeRequest], answers: Iterable[SmokeAnswer], pass_ratio: float
) -> SmokeOutcome:
    by_name = {request.name: request for request in requests}
    failures: list[SmokeFailure] = []
    total = 0
    for answer in answers:
        request = by_name[answer.request]
        total += 1
        failure = judge(request, answer)
        if failure is not None:
            failures.append(failure)
    return SmokeOutcome(total - len(failures), total, pass_ratio, failures)


def _matches(expect: SmokeExpectation, got: list[Any]) -> bool:
    if expect.labels is not None:
        return len(got) == len(expect.labels) and all(
            _same_label(value, label) for value, label in zip(got, expect.labels, strict=True)
        )
    wanted = expect.values or []
    if len(got) != len(wanted):
        return False
    for value, target in zip(got, wanted, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value) or abs(value - target) > expect.tolerance:
            return False
    return True


def _same_label(value: Any, label: str) -> bool:
    if isinstance(value, str):
        return value == label
    if isinstance(value, bool):
        return str(value).lower() == label.lower()
    if isinstance(value, int | float):
        try:
            return float(label) == value
        except ValueError:
            return False
    return False


def _pick(outputs: list[Any], name: str | None) -> dict[str, Any] | None:
    candidates = [o for o in outputs if isinstance(o, dict)]
    if name is None:
        return candidates[0] if candidates else None
    return next((o for o in candidates if o.get("name") == name), None)


def _error_text(body: Any) -> str:
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body)


def _show(values: list[Any]) -> str:
    return "[" + ", ".join(_number(v) if isinstance(v, float) else repr(v) for v in values) + "]"


def _number(value: float) -> str:
    return f"{value:g}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _clip(text: str) -> str:
    """A pod's words as status and Events show them: one line, no control characters (an
    answer cannot forge lines of its own), and short."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
