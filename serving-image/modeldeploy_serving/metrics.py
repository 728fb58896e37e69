"""Prometheus metrics; the operator's rollout checks query these names and labels."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from .runtimes.base import Array

MODEL_LABELS = ("model", "version", "revision")
# Not "endpoint": prometheus-operator sets a target label of that name on every series it
# scrapes and would rename ours to "exported_endpoint".
OPERATION_LABEL = "operation"
# The infer series every pod exports from its start, at 0. A counter series that first appears
# at its first 5xx has no earlier sample, so rate() sees no increase until a later scrape and
# the error-rate check reads 0 while a canary fails every request.
DECLARED_INFER_CODES = (200, 500, 503)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PredictionHistogram(Collector):
    """``modeldeploy_serving_prediction_value``, updated a whole output tensor at a time.

    prometheus_client's Histogram takes one value per call; a 32-row request with class
    probabilities would make a hundred calls, so the buckets are counted with numpy instead.
    """

    name = "modeldeploy_serving_prediction_value"
    documentation = "Numeric values the model produced, per output (for drift comparisons)."

    def __init__(self, model_labels: Sequence[str], buckets: Sequence[float]) -> None:
        self._model_labels = list(model_labels)
        self._bounds = np.array([*buckets, float("inf")], dtype=np.float64)
        self._les = [floatToGoString(b) for b in self._bounds]  # type: ignore[no-untyped-call]
        self._counts: dict[str, Array] = {}
        self._sums: dict[str, float] = {}
        self._lock = threading.Lock()

    def declare(self, output: str) -> None:
        """Makes the output's series exist before its first prediction, so queries see zeros."""
        with self._lock:
            self._counts.setdefault(output, np.zeros(len(self._bounds), dtype=np.int64))
            self._sums.setdefault(output, 0.0)

    def observe(self, output: str, values: Array) -> None:
        flat = values.ravel().astype(np.float64, copy=False)
        if flat.size == 0:
            return
        # side="left" finds the first bound >= value, i.e. Prometheus' "le" bucket.
        counts = np.bincount(
            np.searchsorted(self._bounds, flat, side="left"), minlength=len(self._bounds)
        )
        total = float(flat.sum())
        with self._lock:
            current = self._counts.get(output)
            if current is None:
                self._counts[output] = counts.astype(np.int64)
                self._sums[output] = total
            else:
                current += counts
                self._sums[output] += total

    def describe(self) -> Iterator[Metric]:
        yield Metric(self.name, self.documentation, "histogram")

    def collect(self) -> Iterator[Metric]:
        # Samples are added directly: HistogramMetricFamily.add_metric drops _sum and _count
        # when a bucket bound is negative, and the drift checks divide _sum by _count.
        family = Metric(self.name, self.documentation, "histogram")
        with self._lock:
            snapshot = [(o, c.copy(), self._sums[o]) for o, c in self._counts.items()]
        for output, counts, total in snapshot:
            labels = dict(zip(MODEL_LABELS, self._model_labels, strict=True))
            labels["output"] = output
            cumulative = np.cumsum(counts)
            for le, count in zip(self._les, cumulative, strict=True):
                family.add_sample(f"{self.name}_bucket", {**labels, "le": le}, float(count))
            family.add_sample(f"{self.name}_count", labels, float(cumulative[-1]))
            family.add_sample(f"{self.name}_sum", labels, total)
        yield family


class ShadowMetrics:
    """What this pod learns by copying requests to a candidate revision and comparing answers;
    every series names the candidate."""

    def __init__(self, labels: tuple[str, str, str], registry: CollectorRegistry) -> None:
        self._labels = labels
        names = [*MODEL_LABELS, "candidate_revision"]
        self.requests = Counter(
            "modeldeploy_serving_shadow_requests",
            "Requests copied to the candidate, by outcome: compared, candidate_error (not "
            "answered with 200 in time), unreachable (no connection to the candidate's "
            "Service), dropped (the copy queue was full).",
            [*names, "outcome"],
            registry=registry,
        )
        self.labels_compared = Counter(
            "modeldeploy_serving_shadow_labels_compared",
            "Label-like output elements (integer, string, boolean) compared with the candidate's.",
            names,
            registry=registry,
        )
        self.labels_agreed = Counter(
            "modeldeploy_serving_shadow_labels_agreed",
            "Label-like output elements on which the candidate gave the same answer.",
            names,
            registry=registry,
        )
        self.values_compared = Counter(
            "modeldeploy_serving_shadow_values_compared",
            "Floating-point output elements compared with the candidate's.",
            names,
            registry=registry,
        )
        self.abs_diff = Counter(
            "modeldeploy_serving_shadow_abs_diff",
            "Sum of absolute differences of floating-point output elements, against the "
            "candidate's.",
            names,
            registry=registry,
        )

    def count(self, candidate: str, outcome: str) -> None:
        self.requests.labels(*self._labels, candidate, outcome).inc()

    def compared(
        self, candidate: str, labels: int, agreed: int, values: int, abs_diff: float
    ) -> None:
        self.count(candidate, "compared")
        self.labels_compared.labels(*self._labels, candidate).inc(labels)
        self.labels_agreed.labels(*self._labels, candidate).inc(agreed)
        self.values_compared.labels(*self._labels, candidate).inc(values)
        self.abs_diff.labels(*self._labels, candidate).inc(abs_diff)

    def declare(self, candidate: str) -> None:
        """Every series at zero from the moment a candidate is named, so that rate() sees the
        first comparisons."""
        for outcome in ("compared", "candidate_error", "unreachable", "dropped"):
            self.requests.labels(*self._labels, candidate, outcome)
        for counter in (self.labels_compared, self.labels_agreed, self.values_compared):
            counter.labels(*self._labels, candidate)
        self.abs_diff.labels(*self._labels, candidate)


class ServingMetrics:
    """All series of one served model; labels other than endpoint/code/output are fixed."""

    def __init__(
        self,
        model: str,
        version: str,
        revision: str,
        model_format: str,
        prediction_buckets: Sequence[float],
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = (model, version, revision)
        self._labels = labels
        self._requests = Counter(
            "modeldeploy_serving_requests",
            "HTTP requests by operation (infer, metadata, ready, ...) and status code.",
            [*MODEL_LABELS, OPERATION_LABEL, "code"],
            registry=self.registry,
        )
        self._durations = Histogram(
            "modeldeploy_serving_request_duration_seconds",
            "Time from receiving a request to sending its response, by operation.",
            [*MODEL_LABELS, OPERATION_LABEL],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._load_seconds = Gauge(
            "modeldeploy_serving_model_load_seconds",
            "Seconds spent fetching, verifying, loading and warming up the model.",
            MODEL_LABELS,
            registry=self.registry,
        ).labels(*labels)
        Gauge(
            "modeldeploy_serving_model_info",
            "The served model; always 1.",
            [*MODEL_LABELS, "format"],
            registry=self.registry,
        ).labels(*labels, model_format).set(1)
        # What an autoscaler's requestsInFlight target follows, through a prometheus-adapter.
        self.in_flight = Gauge(
            "modeldeploy_serving_requests_in_flight",
            "Inference requests being answered now.",
            MODEL_LABELS,
            registry=self.registry,
        ).labels(*labels)
        self._ready = Gauge(
            "modeldeploy_serving_ready",
            "1 while the model is loaded, warmed up and the server is not shutting down.",
            MODEL_LABELS,
            registry=self.registry,
        ).labels(*labels)
        self.predictions = PredictionHistogram(labels, prediction_buckets)
        self.registry.register(self.predictions)
        self.shadow = ShadowMetrics(labels, self.registry)
        # Bound children looked up once per (endpoint, code) rather than on every request.
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}
        for code in DECLARED_INFER_CODES:
            self._request_counter("infer", code)

    def _request_counter(self, endpoint: str, code: int) -> Counter:
        counter = self._request_children.get((endpoint, code))
        if counter is None:
            counter = self._requests.labels(*self._labels, endpoint, str(code))
            self._request_children[(endpoint, code)] = counter
        return counter

    def observe_request(self, endpoint: str, code: int, seconds: float) -> None:
        self._request_counter(endpoint, code).inc()
        histogram = self._duration_children.get(endpoint)
        if histogram is None:
            histogram = self._durations.labels(*self._labels, endpoint)
            self._duration_children[endpoint] = histogram
        histogram.observe(seconds)

    def set_ready(self, ready: bool) -> None:
        self._ready.set(1 if ready else 0)

    def set_load_seconds(self, seconds: float) -> None:
        self._load_seconds.set(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
