"""Injected failures and the request log: the control API's view of the traffic."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import REASONS, ApiError


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    content_type: str
    user_agent: str
    at: float = field(default_factory=time.monotonic)
    status: int | None = None  # filled in once answered (a watch: when its headers are sent)

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")


@dataclass
class Fault:
    method: str  # an HTTP method, or "*" for any
    path: re.Pattern[str]
    code: int
    reason: str
    message: str
    times: int  # how many more requests fail; < 0 for every one
    watch: bool | None = None  # None: watches and other requests alike
    retry_after: float | None = None
    hits: int = 0

    def matches(self, request: RecordedRequest) -> bool:
        return (
            self.times != 0
            and self.method in ("*", request.method)
            and self.path.search(request.path) is not None
            and (self.watch is None or self.watch == request.watch)
        )

    def error(self) -> ApiError:
        headers = {"Retry-After": f"{self.retry_after:g}"} if self.retry_after is not None else {}
        details = {"retryAfterSeconds": int(self.retry_after)} if self.retry_after else None
        return ApiError(self.code, self.message, self.reason, details, headers)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        path_regex: str,
        code: int,
        reason: str | None = None,
        *,
        times: int = 1,
        message: str | None = None,
        watch: bool | None = None,
        retry_after: float | None = None,
    ) -> Fault:
        fault = Fault(
            method.upper(),
            re.compile(path_regex),
            code,
            reason or REASONS.get(code, "Unknown"),
            message or f"injected failure: {code} {reason or REASONS.get(code, '')}".strip(),
            times,
            watch,
            retry_after,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, request: RecordedRequest) -> ApiError | None:
        """The failure this request is to get, if a fault matches it (and uses up one)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(request):
                    fault.hits += 1
                    if fault.times > 0:
                        fault.times -= 1
                    return fault.error()
            self._faults = [f for f in self._faults if f.times != 0]
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
