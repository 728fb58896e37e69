"""Leader election on a coordination.k8s.io Lease: of several operator replicas, one acts.

As client-go's leaderelection does it: a candidate takes the Lease when nobody holds it or when
its holder has not renewed it for `lease_duration_s`, measured on the candidate's own clock from
the moment it last saw the record change (so clocks need not agree); the holder renews every
`retry_period_s`; a holder that could not renew for `renew_deadline_s` stops acting at once,
which is before any standby may take the Lease, so two replicas never act together. A holder
that shuts down cleanly hands the Lease back, and a standby takes it at its next try. A holder
whose process died (the kubelet reports its pod's container not running) and that missed a
renewal is taken over at once, without waiting for the Lease to lapse.

Standbys keep their watch caches warm, so taking over costs no start-up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class LeaseTiming:
    lease_duration_s: float = 10.0
    renew_deadline_s: float = 7.0
    retry_period_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError("leader election needs retry period < renew deadline < lease duration")


@dataclass(frozen=True)
class LeaseRecord:
    """What of a Lease decides who may hold it."""

    holder: str
    renew_time: str
    lease_duration_s: float | None
    transitions: int


class Move(StrEnum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    WAIT = "wait"


def record_of(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseRecord(
        holder=spec.get("holderIdentity") or "",
        renew_time=spec.get("renewTime") or "",
        lease_duration_s=float(duration) if duration else None,
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def next_move(
    record: LeaseRecord | None,
    identity: str,
    unchanged_for_s: float,
    timing: LeaseTiming,
    holder_dead: bool = False,
) -> Move:
    """What a candidate does with the Lease as it read it; `unchanged_for_s` is how long, on its
    own clock, the record has looked the same to it. `holder_dead`: the kubelet reports that
    no process of the holder's pod runs, which is proof enough once the holder also missed a
    renewal; the write that takes the Lease is conditional on the record read, so a holder
    that came back and renewed meanwhile keeps it."""
    if record is None or not record.holder:
        return Move.ACQUIRE
    if record.holder == identity:
        return Move.RENEW
    if unchanged_for_s > (record.lease_duration_s or timing.lease_duration_s):
        return Move.ACQUIRE
    if holder_dead and missed_a_renewal(unchanged_for_s, timing):
        return Move.ACQUIRE
    return Move.WAIT


def missed_a_renewal(unchanged_for_s: float, timing: LeaseTiming) -> bool:
    """A live holder renews every retry period. A standby reading the Lease as often sees a
    change at every read, or at every other one when the two periods drift apart; two and a
    half periods without one is a renewal missed."""
    return unchanged_for_s > 2.5 * timing.retry_period_s


def holder_pod_dead(pod: dict[str, Any]) -> bool:
    """Whether the kubelet reports that no container of the holder's pod runs: its process is
    gone, and a new one (the same identity) has yet to start. A pod being deleted is no proof:
    its containers may run on through their grace period, or on a node that cannot be
    reached."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    if meta.get("deletionTimestamp") or not containers:
        return False
    return not any("running" in (c.get("state") or {}) for c in containers)


def lease_spec(
    identity: str, now: datetime, timing: LeaseTiming, current: LeaseRecord | None, move: Move
) -> dict[str, Any]:
    stamp = now.strftime(MICRO_TIME)
    spec: dict[str, Any] = {
        "holderIdentity": identity,
        "leaseDurationSeconds": int(timing.lease_duration_s),
        "renewTime": stamp,
    }
    if move is Move.ACQUIRE:
        spec["acquireTime"] = stamp
        changed_hands = current is not None and current.holder not in ("", identity)
        spec["leaseTransitions"] = (current.transitions if current else 0) + int(changed_hands)
    return spec


class LeaderElector:
    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        timing: LeaseTiming | None = None,
        holder_dead: Callable[[str], bool] | None = None,
        count_request: Callable[[str, str], None] | None = None,
    ) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.timing = timing or LeaseTiming()
        self.holder_dead = holder_dead or (lambda _holder: False)
        # (verb, resource) of each API request, for whoever counts them.
        self.count_request = count_request or (lambda _verb, _resource: None)
        self.leading = False
        self._seen: LeaseRecord | None = None
        self._seen_at = time.monotonic()
        self._renewed_at = 0.0
        # The Lease as this replica last wrote it: while leading, renewals write over it without
        # reading first (a conflict means someone else wrote, and the next try reads).
        self._written: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-election", daemon=True)

    def start(self) -> None:
        log.info("waiting to lead", extra={"lease": f"{self.namespace}/{self.name}"})
        self._thread.start()

    def stop(self) -> None:
        """Stops trying, and hands the Lease back if held, so a standby takes over at once."""
        self._stop.set()
        if not self.leading or self._written is None:
            return
        body = {
            "metadata": {
                "name": self.name,
                "resourceVersion": self._written["metadata"]["resourceVersion"],
            },
            "spec": {"holderIdentity": "", "leaseDurationSeconds": 1},
        }
        try:
            self.api.replace_namespaced_lease(
                self.name, self.namespace, cast(Any, body), _request_timeout=self._timeout()
            )
            log.info("lease handed back", extra={"lease": f"{self.namespace}/{self.name}"})
        except ApiException as error:
            log.warning("could not hand the lease back: %s", error.reason)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                held = self._try()
            except Exception as error:  # an API hiccup is one missed renewal, no more
                log.warning("lease: %s", error)
                held = False
            now = time.monotonic()
            if held:
                self._renewed_at = now
                if not self.leading:
                    self.leading = True
                    log.info("started leading", extra={"lease": f"{self.namespace}/{self.name}"})
                    self.on_started_leading()
            elif self.leading and now - self._renewed_at > self.timing.renew_deadline_s:
                self.leading = False
                log.error(
                    "lease not renewed for %.0fs: stopped leading",
                    now - self._renewed_at,
                    extra={"lease": f"{self.namespace}/{self.name}"},
                )
                self.on_stopped_leading()
                return
            self._stop.wait(self.timing.retry_period_s)

    def _timeout(self) -> float:
        """How long one Lease request may take. A connection that is blocked, not refused,
        would otherwise hang a renewal past the renew deadline, and a leader that cannot renew
        would go on acting after a standby took over."""
        return self.timing.retry_period_s

    def _read(self) -> dict[str, Any] | None:
        self.count_request("get", "leases")
        try:
            lease: Any = self.api.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self._timeout()
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(dict[str, Any], json.loads(lease.data))

    def _try(self) -> bool:
        lease = self._written if self.leading and self._written else self._read()
        record = record_of(lease) if lease is not None else None
        now = time.monotonic()
        if record != self._seen:
            self._seen, self._seen_at = record, now
        unchanged_for_s = now - self._seen_at
        # Asked only of a holder that missed a renewal: at rest, standbys read the Lease alone.
        dead = (
            record is not None
            and record.holder not in ("", self.identity)
            and missed_a_renewal(unchanged_for_s, self.timing)
            and self.holder_dead(record.holder)
        )
        move = next_move(record, self.identity, unchanged_for_s, self.timing, holder_dead=dead)
        if move is Move.WAIT:
            return False
        spec = lease_spec(self.identity, datetime.now(UTC), self.timing, record, move)
        written: Any
        self.count_request("create" if lease is None else "update", "leases")
        try:
            if lease is None:
                written = self.api.create_namespaced_lease(
                    self.namespace,
                    cast(Any, {"metadata": {"name": self.name}, "spec": spec}),
                    _preload_content=False,
                    _request_timeout=self._timeout(),
                )
            else:
                body = {
                    "metadata": {
                        "name": self.name,
                        "resourceVersion": lease["metadata"]["resourceVersion"],
                    },
                    "spec": {**(lease.get("spec") or {}), **spec},
                }
                written = self.api.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    cast(Any, body),
                    _preload_content=False,
                    _request_timeout=self._timeout(),
                )
        except ApiException as error:
            self._written = None
            if error.status in (409, 422):  # another candidate got there first
                return False
            raise
        self._written = json.loads(written.data)
        if move is Move.ACQUIRE:
            log.info(
                "lease acquired (previous holder: %s)",
                record.holder if record else "none",
                extra={"lease": f"{self.namespace}/{self.name}"},
            )
        return True
