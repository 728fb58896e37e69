"""Open Inference Protocol (v2) request validation and response encoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from .runtimes.base import Array
from .schema import FLOAT_DATATYPES, INT_DATATYPES, NUMPY_DTYPES, TensorSpec, format_shape


class ProtocolError(Exception):
    """A request the model cannot be asked; the message names the problem."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class InferRequest:
    id: str | None
    inputs: dict[str, Array]
    outputs: list[str] | None
    rows: int


def parse_infer_request(
    body: bytes,
    inputs: Sequence[TensorSpec],
    output_names: Sequence[str],
    max_rows: int,
) -> InferRequest:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ProtocolError("request body must be a JSON object")

    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise ProtocolError("'parameters' must be an object")

    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("'inputs' must be a non-empty list")
    specs = {spec.name: spec for spec in inputs}
    arrays: dict[str, Array] = {}
    rows: int | None = None
    for index, raw in enumerate(raw_inputs):
        if not isinstance(raw, dict):
            raise ProtocolError(f"inputs[{index}] must be an object")
        name = raw.get("name")
        if not isinstance(name, str):
            raise ProtocolError(f"inputs[{index}] has no 'name'")
        spec = specs.get(name)
        if spec is None:
            raise ProtocolError(f"unexpected input {name!r}; the model takes {_names(specs)}")
        if name in arrays:
            raise ProtocolError(f"input {name!r} is given more than once")
        array = _parse_tensor(raw, spec, max_rows)
        if rows is not None and array.shape[0] != rows:
            raise ProtocolError(
                f"input {name!r} has {array.shape[0]} rows but the other inputs have {rows}"
            )
        rows = array.shape[0]
        arrays[name] = array
    missing = [name for name in specs if name not in arrays]
    if missing:
        raise ProtocolError(f"missing input {_names(missing)}; the model takes {_names(specs)}")
    assert rows is not None
    # Keep the model's input order, whatever order the client sent them in.
    ordered = {name: arrays[name] for name in specs}
    return InferRequest(
        id=request_id,
        inputs=ordered,
        outputs=_parse_requested_outputs(payload.get("outputs"), output_names),
        rows=rows,
    )


def _parse_requested_outputs(raw: Any, available: Sequence[str]) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("'outputs' must be a non-empty list of {\"name\": ...} objects")
    names: list[str] = []
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise ProtocolError(f"outputs[{index}] must be an object with a 'name'")
        if name not in available:
            raise ProtocolError(f"unknown output {name!r}; the model produces {_names(available)}")
        if name not in names:
            names.append(name)
    return names


def _parse_tensor(raw: dict[str, Any], spec: TensorSpec, max_rows: int) -> Array:
    name = spec.name
    datatype = raw.get("datatype")
    if not isinstance(datatype, str):
        raise ProtocolError(f"input {name!r} has no 'datatype'; expected {spec.datatype}")
    if datatype != spec.datatype:
        raise ProtocolError(
            f"input {name!r} has datatype {datatype}; the model expects {spec.datatype}"
        )
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not all(type(d) is int and d >= 0 for d in shape)
        or not shape
    ):
        raise ProtocolError(
            f"input {name!r} has shape {shape!r}; expected a list of non-negative integers"
        )
    if not spec.accepts_shape(shape):
        raise ProtocolError(
            f"input {name!r} has shape {format_shape(shape)}; "
            f"the model expects {format_shape(spec.shape)}"
        )
    rows = shape[0]
    if rows == 0:
        raise ProtocolError(f"input {name!r} has no rows")
    if rows > max_rows:
        raise ProtocolError(
            f"input {name!r} has {rows} rows, more than the limit of {max_rows} "
            "(SERVING_MAX_BATCH_ROWS)"
        )
    if "data" not in raw:
        raise ProtocolError(f"input {name!r} has no 'data'")
    return _to_array(raw["data"], spec, tuple(shape))


def _to_array(data: Any, spec: TensorSpec, shape: tuple[int, ...]) -> Array:
    name = spec.name
    if not isinstance(data, list):
        raise ProtocolError(f"input {name!r}: 'data' must be a list")
    datatype = spec.datatype
    try:
        array = np.array(data, dtype=object) if datatype == "BYTES" else np.asarray(data)
    except ValueError:
        raise ProtocolError(
            f"input {name!r}: 'data' is ragged; nested lists must all have the same length"
        ) from None
    if array.ndim != 1 and array.shape != shape:
        raise ProtocolError(
            f"input {name!r}: 'data' is nested as {format_shape(array.shape)} "
            f"but 'shape' is {format_shape(shape)}"
        )
    expected = math.prod(shape)
    if array.size != expected:
        raise ProtocolError(
            f"input {name!r}: shape {format_shape(shape)} needs {expected} values, "
            f"'data' has {array.size}"
        )
    kind = array.dtype.kind
    if datatype in FLOAT_DATATYPES:
        ok = kind in "fiu"
    elif datatype in INT_DATATYPES:
        ok = kind in "iu" and _fits_integer(array, NUMPY_DTYPES[datatype])
    elif datatype == "BOOL":
        ok = kind == "b"
    else:
        ok = all(isinstance(item, str) for item in array.flat)
    if not ok:
        raise ProtocolError(f"input {name!r}: 'data' holds values that are not {datatype}")
    if datatype != "BYTES":
        # Overflow to inf is caught right below; numpy's warning about it would only be noise.
        with np.errstate(over="ignore"):
            array = array.astype(NUMPY_DTYPES[datatype], copy=False)
        if datatype in FLOAT_DATATYPES and not np.isfinite(array).all():
            raise ProtocolError(f"input {name!r}: 'data' holds values out of range for {datatype}")
    return array.reshape(shape)


def _fits_integer(array: Array, dtype: np.dtype[Any]) -> bool:
    info = np.iinfo(dtype)
    return bool(array.min() >= info.min and array.max() <= info.max)


def _names(names: Any) -> str:
    return ", ".join(repr(n) for n in names)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Sequence[tuple[TensorSpec, Array]],
) -> bytes:
    encoded = []
    for spec, value in outputs:
        flat = value.ravel()
        encoded.append(
            {
                "name": spec.name,
                "datatype": spec.datatype,
                "shape": list(value.shape),
                # orjson writes numeric numpy arrays natively, far faster than tolist().
                "data": _bytes_data(flat) if spec.datatype == "BYTES" else flat,
            }
        )
    payload: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        payload["id"] = request_id
    payload["outputs"] = encoded
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def _bytes_data(flat: Array) -> list[Any]:
    return [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else item
        for item in flat.tolist()
    ]


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})
