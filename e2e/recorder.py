"""Records what a ModelDeployment's status went through, for scenarios to assert on."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from e2e.fixtures import Cluster, get_model_deployment


@dataclass(frozen=True)
class Sample:
    at: float  # time.time()
    phase: str | None
    weight: int
    effective_weight: int
    step: int | None
    stable: str | None
    canary: str | None
    route_weight: int | None = None


class StatusRecorder:
    """Polls the status (and, when given, the route's weight) in a thread until stopped."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        name: str,
        period_s: float = 0.25,
        route_weight: Callable[[], int | None] | None = None,
    ) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.period_s = period_s
        self.route_weight = route_weight
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        # What the caller saw through its own poll just before leaving is recorded too, however
        # the sampling period fell.
        with contextlib.suppress(Exception):
            self.samples.append(self._sample())

    def _run(self) -> None:
        while not self._stop.is_set():
            # A sample missed to an API hiccup is not a failure of the scenario.
            with contextlib.suppress(Exception):
                self.samples.append(self._sample())
            self._stop.wait(self.period_s)

    def _sample(self) -> Sample:
        body = get_model_deployment(self.cluster, self.namespace, self.name)
        status: dict[str, Any] = body.get("status") or {}
        state = status.get("rollout") or {}
        return Sample(
            at=time.time(),
            phase=status.get("phase"),
            weight=int(status.get("weight") or 0),
            effective_weight=int(status.get("effectiveWeight") or 0),
            step=state.get("step"),
            stable=(status.get("stable") or {}).get("revision"),
            canary=(status.get("canary") or {}).get("revision"),
            route_weight=self.route_weight() if self.route_weight else None,
        )

    @staticmethod
    def _dedupe(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if not out or out[-1] != value:
                out.append(value)
        return out

    def phases(self) -> list[str | None]:
        return self._dedupe([s.phase for s in self.samples])

    def weights(self) -> list[int]:
        return self._dedupe([s.weight for s in self.samples])

    def route_weights(self) -> list[int | None]:
        return self._dedupe([s.route_weight for s in self.samples if s.route_weight is not None])

    def steps(self) -> list[int | None]:
        return self._dedupe([s.step for s in self.samples if s.step is not None])

    def wait_settled(self, timeout_s: float = 15) -> Sample:
        """Waits until the recorder itself has seen the rollout end: no canary left and no
        weight on the route. A caller that saw the end through its own poll would otherwise
        stop the recorder a sample too early."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            samples = list(self.samples)
            active = [
                i for i, s in enumerate(samples) if s.canary is not None or s.step is not None
            ]
            if active:
                after = samples[active[-1] + 1 :]
                settled = [s for s in after if s.canary is None and not s.route_weight]
                if settled:
                    return settled[0]
            time.sleep(self.period_s)
        raise AssertionError(f"the recorder never saw the rollout settle: {self.describe()}")

    def first(self, predicate: Callable[[Sample], bool]) -> Sample | None:
        return next((s for s in self.samples if predicate(s)), None)

    def transitions(self, since: float) -> str:
        """Each change of phase, weight or step, in seconds after `since` (a time.time())."""
        seen: list[str] = []
        last = None
        for sample in self.samples:
            now = (sample.phase, sample.weight, sample.step)
            if now != last:
                seen.append(
                    f"{sample.at - since:.2f}s {sample.phase}/{sample.weight}/{sample.step}"
                )
                last = now
        return ", ".join(seen)

    def describe(self) -> str:
        return f"phases={self.phases()} weights={self.weights()} steps={self.steps()}"
