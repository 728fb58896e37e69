"""Tensor declarations shared by configuration, model runtimes and the wire protocol."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Open Inference Protocol datatypes and the numpy dtypes they travel as. BYTES tensors hold
# Python strings, which numpy keeps in object arrays.
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}

FLOAT_DATATYPES = frozenset({"FP16", "FP32", "FP64"})
INT_DATATYPES = frozenset(
    {"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A named tensor as a model declares it; -1 marks a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def accepts_shape(self, shape: Iterable[int]) -> bool:
        dims = tuple(shape)
        return len(dims) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, dims, strict=True)
        )


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The protocol datatype that carries values of a numpy dtype."""
    if dtype.kind in "OUS":
        return "BYTES"
    for name, candidate in NUMPY_DTYPES.items():
        if candidate == dtype:
            return name
    raise ValueError(f"numpy dtype {dtype} has no Open Inference Protocol datatype")


def format_shape(shape: Iterable[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def parse_specs(raw: Any, what: str) -> tuple[TensorSpec, ...]:
    """Reads a JSON list of ``{"name", "datatype", "shape"}`` objects, rejecting anything else."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{what} must be a non-empty JSON list of tensor declarations")
    specs: list[TensorSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"{what}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object with name, datatype and shape")
        unknown = set(item) - {"name", "datatype", "shape"}
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name must be a non-empty string")
        if name in seen:
            raise ValueError(f"{where}.name {name!r} is declared twice")
        seen.add(name)
        datatype = item.get("datatype")
        if not isinstance(datatype, str) or datatype.upper() not in NUMPY_DTYPES:
            raise ValueError(
                f"{where}.datatype must be one of {', '.join(NUMPY_DTYPES)}, got {datatype!r}"
            )
        shape = item.get("shape")
        if (
            not isinstance(shape, list)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or any(d < -1 for d in shape)
        ):
            raise ValueError(
                f"{where}.shape must be a non-empty list of non-negative integers or -1, "
                f"got {shape!r}"
            )
        specs.append(TensorSpec(name=name, datatype=datatype.upper(), shape=tuple(shape)))
    return tuple(specs)
