"""ONNX graphs run by onnxruntime on CPU."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from ..schema import NUMPY_DTYPES, TensorSpec
from .base import Array, RuntimeLoadError

# Left on, onnxruntime tries to send usage telemetry to an outside service and to persist a
# device id under $HOME, which is read-only in the image; it reads this variable when loaded.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import onnxruntime as ort

_ORT_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


class OnnxRuntime:
    """Serves every graph output under its graph name.

    Classifiers converted by skl2onnx answer with ``label`` and ``probabilities`` when converted
    with ``zipmap=False``, or ``output_label`` and ``output_probability`` otherwise; the
    latter's per-row ``{class: probability}`` maps are returned as a 2-D tensor with one column
    per class in ascending class order.
    """

    platform = "onnxruntime_onnx"

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._inputs: list[TensorSpec] = []
        self._feed_dtypes: dict[str, np.dtype[Any]] = {}
        for node in session.get_inputs():
            datatype = _ORT_DATATYPES.get(node.type)
            if datatype is None:
                raise RuntimeLoadError(
                    f"graph input {node.name!r} has unsupported type {node.type}"
                )
            shape = tuple(d if isinstance(d, int) and d > 0 else -1 for d in node.shape)
            self._inputs.append(TensorSpec(node.name, datatype, shape))
            self._feed_dtypes[node.name] = (
                np.dtype(np.str_) if datatype == "BYTES" else NUMPY_DTYPES[datatype]
            )
        self._outputs = [node.name for node in session.get_outputs()]

    @classmethod
    def load(cls, path: str, threads: int = 1) -> OnnxRuntime:
        options = ort.SessionOptions()
        # Requests are small and the server handles them one after another; more intra-op
        # threads mostly add synchronisation cost and compete with the event loop for cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(
                path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise RuntimeLoadError(
                f"cannot load {path} as an ONNX model: {type(exc).__name__}: {exc}"
            ) from exc
        return cls(session)

    def input_specs(self) -> list[TensorSpec]:
        return list(self._inputs)

    def output_names(self) -> list[str]:
        return list(self._outputs)

    def predict(self, inputs: Mapping[str, Array], wanted: Collection[str]) -> dict[str, Array]:
        feeds = {
            name: np.asarray(value, dtype=self._feed_dtypes[name]) for name, value in inputs.items()
        }
        names = [name for name in self._outputs if name in wanted]
        results = self._session.run(names, feeds)
        return {name: _to_array(value) for name, value in zip(names, results, strict=True)}


def _to_array(value: Any) -> Array:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        classes = sorted(value[0])
        return np.array([[row[c] for c in classes] for row in value], dtype=np.float32)
    return np.asarray(value)
