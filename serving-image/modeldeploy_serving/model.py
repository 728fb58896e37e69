"""The served model: a runtime behind the declared input/output schema, warmed up before use."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .artifacts import fetch_artifact
from .config import Settings
from .runtimes import Runtime, load_runtime
from .runtimes.base import Array
from .schema import FLOAT_DATATYPES, NUMPY_DTYPES, TensorSpec, datatype_of, format_shape

log = logging.getLogger(__name__)

# Predictions slower than this (smoothed) run on a worker thread instead of the event loop, so
# that probes and scrapes are answered while they compute. Faster ones run inline: handing a
# sub-millisecond prediction to a thread costs about a tenth of the throughput.
OFFLOAD_AFTER_SECONDS = 0.002
_SMOOTHING = 0.1


class ModelLoadError(Exception):
    """The artifact or its declared schema cannot be served; the server stays not ready."""


class PredictionError(Exception):
    """The model failed on a request that passed validation."""


@dataclass(frozen=True, slots=True)
class _OutputBinding:
    spec: TensorSpec  # what clients see
    source: str  # the runtime's name for it


class ServedModel:
    def __init__(
        self,
        runtime: Runtime,
        *,
        model_format: str,
        input_schema: Sequence[TensorSpec] | None = None,
        output_schema: Sequence[TensorSpec] | None = None,
    ) -> None:
        self.runtime = runtime
        self.platform = runtime.platform
        self.model_format = model_format
        self.inputs = _resolve_inputs(runtime, model_format, input_schema)
        self._configured_outputs = tuple(output_schema) if output_schema else None
        self._bindings: list[_OutputBinding] = []
        self._by_name: dict[str, _OutputBinding] = {}
        self.predict_seconds = 0.0

    @property
    def offload(self) -> bool:
        """Whether predictions take long enough to be worth running off the event loop."""
        return self.predict_seconds > OFFLOAD_AFTER_SECONDS

    @property
    def outputs(self) -> list[TensorSpec]:
        return [binding.spec for binding in self._bindings]

    @property
    def output_names(self) -> list[str]:
        return list(self._by_name)

    def warm_up(self) -> None:
        """Runs one inference on zeros so that the first request does not pay for lazy setup.

        It also fixes the output declarations: their datatypes and trailing dimensions are
        whatever the model actually produced, unless configuration declared them.
        """
        sample = {spec.name: _zeros(spec) for spec in self.inputs}
        names = self.runtime.output_names()
        try:
            produced = self.runtime.predict(sample, names)
        except Exception as exc:
            raise ModelLoadError(f"warm-up inference failed: {type(exc).__name__}: {exc}") from exc
        missing = [name for name in names if name not in produced]
        if missing:
            raise ModelLoadError(f"warm-up inference did not produce {', '.join(missing)}")
        self._bindings = _bind_outputs(names, produced, self._configured_outputs)
        self._by_name = {binding.spec.name: binding for binding in self._bindings}
        try:
            self.predict(sample)
        except PredictionError as exc:
            raise ModelLoadError(f"warm-up inference failed: {exc}") from exc
        # The first call pays for lazy initialisation; the second one is what requests will see.
        started = time.perf_counter()
        self.predict(sample)
        self.predict_seconds = time.perf_counter() - started

    def predict(
        self, inputs: Mapping[str, Array], wanted: Sequence[str] | None = None
    ) -> list[tuple[TensorSpec, Array]]:
        """Returns the wanted outputs (all by default), checked against their declarations."""
        bindings = self._bindings if wanted is None else [self._by_name[name] for name in wanted]
        rows = next(iter(inputs.values())).shape[0]
        started = time.perf_counter()
        try:
            produced = self.runtime.predict(inputs, {binding.source for binding in bindings})
        except Exception as exc:
            raise PredictionError(f"{type(exc).__name__}: {exc}") from exc
        elapsed = time.perf_counter() - started
        self.predict_seconds += _SMOOTHING * (elapsed - self.predict_seconds)
        results: list[tuple[TensorSpec, Array]] = []
        for binding in bindings:
            spec = binding.spec
            value = produced.get(binding.source)
            if value is None:
                raise PredictionError(f"the model produced no {spec.name!r} output")
            if value.ndim == 0 or value.shape[0] != rows:
                raise PredictionError(
                    f"output {spec.name!r} has shape {format_shape(value.shape)}, "
                    f"expected {rows} rows"
                )
            if not spec.accepts_shape(value.shape):
                raise PredictionError(
                    f"output {spec.name!r} has shape {format_shape(value.shape)}, "
                    f"declared {format_shape(spec.shape)}"
                )
            value = _as_datatype(value, spec)
            if spec.datatype in FLOAT_DATATYPES and not np.isfinite(value).all():
                # JSON has no NaN; sending null or a guess would be a silently wrong answer.
                raise PredictionError(f"output {spec.name!r} contains NaN or infinite values")
            results.append((spec, value))
        return results


def load_model(settings: Settings) -> ServedModel:
    """Fetches, verifies, deserialises and warms up the configured model."""
    started = time.perf_counter()
    path = fetch_artifact(
        settings.model_uri,
        settings.cache_dir,
        expected_sha256=settings.model_sha256,
        s3_endpoint_url=settings.s3_endpoint_url,
    )
    fetched = time.perf_counter()
    runtime = load_runtime(settings.model_format, str(path), onnx_threads=settings.onnx_threads)
    model = ServedModel(
        runtime,
        model_format=settings.model_format,
        input_schema=settings.input_schema,
        output_schema=settings.output_schema,
    )
    model.warm_up()
    log.info(
        "model loaded",
        extra={
            "path": str(path),
            "fetch_s": round(fetched - started, 3),
            "load_s": round(time.perf_counter() - fetched, 3),
            "inputs": [spec.to_json() for spec in model.inputs],
            "outputs": [spec.to_json() for spec in model.outputs],
        },
    )
    return model


def _resolve_inputs(
    runtime: Runtime, model_format: str, configured: Sequence[TensorSpec] | None
) -> list[TensorSpec]:
    declared = runtime.input_specs()
    if not configured:
        return declared
    if model_format == "sklearn":
        if len(configured) != 1:
            raise ModelLoadError(
                f"MODEL_INPUT_SCHEMA declares {len(configured)} inputs; "
                "scikit-learn models take exactly one"
            )
        (spec,) = configured
        if len(spec.shape) not in (1, 2):
            raise ModelLoadError(
                f"MODEL_INPUT_SCHEMA input {spec.name!r} has shape {format_shape(spec.shape)}; "
                "scikit-learn models take [rows] or [rows, features]"
            )
        features = declared[0].shape[1]
        if len(spec.shape) == 2 and features != -1 and spec.shape[1] not in (-1, features):
            raise ModelLoadError(
                f"MODEL_INPUT_SCHEMA declares {spec.shape[1]} features but the model was "
                f"fitted on {features}"
            )
        return list(configured)
    graph = {spec.name for spec in declared}
    names = {spec.name for spec in configured}
    if names != graph:
        raise ModelLoadError(
            f"MODEL_INPUT_SCHEMA names inputs {sorted(names)} but the ONNX graph takes "
            f"{sorted(graph)}"
        )
    return list(configured)


def _bind_outputs(
    names: list[str], produced: Mapping[str, Array], configured: Sequence[TensorSpec] | None
) -> list[_OutputBinding]:
    def observed(name: str, source: str) -> TensorSpec:
        value = produced[source]
        try:
            datatype = datatype_of(value.dtype)
        except ValueError as exc:
            raise ModelLoadError(f"output {source!r}: {exc}") from None
        return TensorSpec(name, datatype, (-1, *value.shape[1:]))

    if not configured:
        return [_OutputBinding(observed(name, name), name) for name in names]

    # Configured outputs pick runtime outputs by name when they all match one; otherwise they
    # rename the runtime's outputs in order.
    configured_names = [spec.name for spec in configured]
    if set(configured_names) <= set(names):
        sources = configured_names
    elif len(configured) == len(names):
        sources = names
    else:
        raise ModelLoadError(
            f"MODEL_OUTPUT_SCHEMA declares {configured_names}, which neither names outputs of the "
            f"model ({names}) nor has one entry per output"
        )
    bindings = []
    for spec, source in zip(configured, sources, strict=True):
        actual = observed(spec.name, source)
        if not _same_item_shape(spec.shape, produced[source].shape):
            raise ModelLoadError(
                f"MODEL_OUTPUT_SCHEMA declares output {spec.name!r} with shape "
                f"{format_shape(spec.shape)} but the model produces {format_shape(actual.shape)}"
            )
        if not _castable(actual.datatype, spec.datatype):
            raise ModelLoadError(
                f"MODEL_OUTPUT_SCHEMA declares output {spec.name!r} as {spec.datatype} but the "
                f"model produces {actual.datatype}, which does not convert without loss"
            )
        bindings.append(_OutputBinding(spec, source))
    return bindings


def _same_item_shape(declared: tuple[int, ...], produced: tuple[int, ...]) -> bool:
    # The first dimension is the batch; warm-up runs one row, so only the rest can be checked.
    return len(declared) == len(produced) and all(
        want in (-1, got) for want, got in zip(declared[1:], produced[1:], strict=True)
    )


def _castable(source: str, target: str) -> bool:
    if source == target:
        return True
    if "BYTES" in (source, target):
        return False
    return bool(np.can_cast(NUMPY_DTYPES[source], NUMPY_DTYPES[target], casting="same_kind"))


def _as_datatype(value: Array, spec: TensorSpec) -> Array:
    if spec.datatype == "BYTES":
        return value
    target = NUMPY_DTYPES[spec.datatype]
    return value if value.dtype == target else value.astype(target)


def _zeros(spec: TensorSpec) -> Array:
    shape = tuple(1 if d == -1 else d for d in spec.shape)
    if spec.datatype == "BYTES":
        return np.full(shape, "", dtype=object)
    return np.zeros(shape, dtype=NUMPY_DTYPES[spec.datatype])
