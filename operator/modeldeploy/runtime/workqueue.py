"""A work queue of ModelDeployment keys, with the semantics of client-go's workqueue.

- A key is queued at most once, however many events name it before a worker takes it.
- A key is handled by one worker at a time; a key added while it is being handled is handled
  again right after, so no event is lost and no two reconciles of one object overlap.
- `add_after` asks for a key at a moment (the wake-up the rollout state machine asked for, the
  slow resync); of several moments asked for one key, the earliest stands.
- `retry` re-adds a key that failed with a growing delay; `forget` resets it after a success.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

RETRY_BASE_S = 0.5
RETRY_MAX_S = 60.0


class DelayedKeys(Generic[K]):
    """Keys waiting for a moment; the earliest moment asked for a key stands. Not thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._counter = 0

    def schedule(self, key: K, at: float) -> bool:
        """True when this moved the key's moment (earlier, or the first one asked for)."""
        current = self._due.get(key)
        if current is not None and current <= at:
            return False
        self._due[key] = at
        self._counter += 1
        heapq.heappush(self._heap, (at, self._counter, key))
        return True

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)

    def pop_due(self, now: float) -> list[K]:
        due: list[K] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == at:  # else superseded by an earlier moment, or cancelled
                del self._due[key]
                due.append(key)
        return due

    def next_moment(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def moment_of(self, key: K) -> float | None:
        return self._due.get(key)

    def __len__(self) -> int:
        return len(self._due)


def retry_delay(failures: int) -> float:
    return float(min(RETRY_BASE_S * 2 ** max(failures - 1, 0), RETRY_MAX_S))


class WorkQueue(Generic[K]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: DelayedKeys[K] = DelayedKeys()
        self._failures: dict[K, int] = {}
        self._shut_down = False
        self._timer = threading.Thread(target=self._run_timer, name="workqueue-timer", daemon=True)
        self._timer.start()

    def add(self, key: K) -> None:
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shut_down:
            return
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._cond.notify_all()

    def add_after(self, key: K, delay_s: float) -> None:
        if delay_s <= 0:
            self.add(key)
            return
        with self._cond:
            if self._delayed.schedule(key, self._clock() + delay_s):
                self._cond.notify_all()

    def retry(self, key: K) -> float:
        """Re-adds a failed key after a delay that doubles with each failure in a row."""
        with self._cond:
            self._failures[key] = self._failures.get(key, 0) + 1
            delay = retry_delay(self._failures[key])
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        with self._cond:
            self._failures.pop(key, None)

    def drop(self, key: K) -> None:
        """Forgets every pending moment and failure of a key (its object is gone)."""
        with self._cond:
            self._delayed.cancel(key)
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to handle, marked as being handled; None on shutdown or time-out."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._shut_down, timeout):
                return None
            if self._shut_down:
                return None
            key = self._queue.popleft()
            self._queued.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: K) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add_locked(key)

    def pending_moment(self, key: K) -> float | None:
        """When `key` is next due by `add_after`, on this queue's clock."""
        with self._cond:
            return self._delayed.moment_of(key)

    def depth(self) -> int:
        with self._cond:
            return len(self._queue)

    def shut_down(self) -> None:
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()

    def _run_timer(self) -> None:
        with self._cond:
            while not self._shut_down:
                for key in self._delayed.pop_due(self._clock()):
                    self._add_locked(key)
                moment = self._delayed.next_moment()
                timeout = None if moment is None else max(moment - self._clock(), 0.0)
                self._cond.wait(timeout)
