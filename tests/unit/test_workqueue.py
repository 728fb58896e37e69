"""The work queue: one reconcile per object at a time, no event lost, the earliest wake-up kept."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.runtime.workqueue import RETRY_MAX_S, DelayedKeys, WorkQueue, retry_delay


def test_a_key_is_queued_once_however_often_it_is_added() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert queue.depth() == 2
    assert queue.get(timeout=0) == "a"
    assert queue.get(timeout=0) == "b"
    assert queue.get(timeout=0) is None
    queue.shut_down()


def test_a_key_added_while_handled_is_handled_again_after_not_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    assert queue.get(timeout=0) is None, "never two workers on one key"
    queue.done("a")
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    assert queue.get(timeout=0) is None
    queue.shut_down()


def test_add_after_delivers_the_key_when_due() -> None:
    queue: WorkQueue[str] = WorkQueue()
    started = time.monotonic()
    queue.add_after("a", 0.2)
    assert queue.get(timeout=0) is None
    assert queue.get(timeout=5) == "a"
    assert time.monotonic() - started >= 0.2
    queue.shut_down()


def test_the_earliest_of_several_wakeups_stands() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 60)
    queue.add_after("a", 0.05)
    queue.add_after("a", 30)
    assert queue.get(timeout=5) == "a"
    queue.done("a")
    assert queue.pending_moment("a") is None
    queue.shut_down()


def test_shut_down_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.shut_down()
    assert queue.get(timeout=5) is None


def test_retries_back_off_and_forget_resets_them() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert retry_delay(100) == RETRY_MAX_S
    queue: WorkQueue[str] = WorkQueue()
    assert queue.retry("a") == 0.5
    assert queue.retry("a") == 1.0
    queue.forget("a")
    assert queue.retry("a") == 0.5
    queue.shut_down()


def test_drop_cancels_a_pending_wakeup() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 0.05)
    queue.drop("a")
    assert queue.pending_moment("a") is None
    assert queue.get(timeout=0.3) is None
    queue.shut_down()


@given(
    asks=st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(0, 100, allow_nan=False)), max_size=30
    ),
    now=st.floats(0, 100, allow_nan=False),
)
def test_delayed_keys_deliver_each_key_once_at_its_earliest_moment(
    asks: list[tuple[str, float]], now: float
) -> None:
    delayed: DelayedKeys[str] = DelayedKeys()
    for key, at in asks:
        delayed.schedule(key, at)
    earliest: dict[str, float] = {}
    for key, at in asks:
        earliest[key] = min(at, earliest.get(key, at))
    due = delayed.pop_due(now)
    assert sorted(due) == sorted(k for k, at in earliest.items() if at <= now)
    assert len(due) == len(set(due))
    rest = {k: at for k, at in earliest.items() if at > now}
    assert len(delayed) == len(rest)
    assert delayed.next_moment() == (min(rest.values()) if rest else None)
    assert sorted(delayed.pop_due(float("inf"))) == sorted(rest)
