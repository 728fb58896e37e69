from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pytest

from modeldeploy_serving.protocol import (
    ProtocolError,
    encode_infer_response,
    parse_infer_request,
)
from modeldeploy_serving.schema import TensorSpec, datatype_of, parse_specs

FEATURES = TensorSpec("input-0", "FP64", (-1, 4))
OUTPUTS = ["label", "probabilities"]


def tensor(
    data: Any, shape: list[Any], datatype: str = "FP64", name: str = "input-0"
) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def parse(payload: Any, specs: list[TensorSpec] | None = None, max_rows: int = 8) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_infer_request(body, specs or [FEATURES], OUTPUTS, max_rows)


def rejected(payload: Any, specs: list[TensorSpec] | None = None, max_rows: int = 8) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse(payload, specs, max_rows)
    assert caught.value.status == 400
    return str(caught.value)


def test_nested_and_flat_data_give_the_same_array() -> None:
    nested = parse({"inputs": [tensor([[1, 2, 3, 4], [5, 6, 7, 8]], [2, 4])]})
    flat = parse({"inputs": [tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 4])]})
    for request in (nested, flat):
        array = request.inputs["input-0"]
        assert array.dtype == np.float64
        assert array.shape == (2, 4)
        assert array.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert nested.rows == 2
    assert nested.id is None and nested.outputs is None


def test_id_parameters_and_requested_outputs() -> None:
    request = parse(
        {
            "id": "req-1",
            "parameters": {"content_type": "np"},
            "inputs": [tensor([[0.5, 1, 2, 3]], [1, 4])],
            "outputs": [{"name": "probabilities"}],
        }
    )
    assert request.id == "req-1"
    assert request.outputs == ["probabilities"]


def test_inputs_come_back_in_the_model_order() -> None:
    specs = [TensorSpec("a", "INT64", (-1,)), TensorSpec("b", "BOOL", (-1,))]
    request = parse(
        {"inputs": [tensor([True, False], [2], "BOOL", "b"), tensor([1, 2], [2], "INT64", "a")]},
        specs,
    )
    assert list(request.inputs) == ["a", "b"]
    assert request.inputs["b"].dtype == np.bool_


def test_bytes_inputs() -> None:
    spec = TensorSpec("text", "BYTES", (-1,))
    request = parse({"inputs": [tensor(["good", "bad"], [2], "BYTES", "text")]}, [spec])
    assert request.inputs["text"].tolist() == ["good", "bad"]
    assert "not BYTES" in rejected({"inputs": [tensor([1, 2], [2], "BYTES", "text")]}, [spec])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"not json", "request body is not valid JSON"),
        (b'{"inputs": [NaN]}', "request body is not valid JSON"),
        ([1, 2], "request body must be a JSON object"),
        ({}, "'inputs' must be a non-empty list"),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        ({"inputs": ["x"]}, "inputs[0] must be an object"),
        ({"inputs": [{"shape": [1, 4]}]}, "inputs[0] has no 'name'"),
        ({"id": 5, "inputs": [tensor([[1, 2, 3, 4]], [1, 4])]}, "'id' must be a string"),
        ({"parameters": [], "inputs": [tensor([[1, 2, 3, 4]], [1, 4])]}, "'parameters'"),
        (
            {"inputs": [tensor([[1, 2, 3, 4]], [1, 4], name="features")]},
            "unexpected input 'features'; the model takes 'input-0'",
        ),
        (
            {"inputs": [tensor([[1, 2, 3, 4]], [1, 4]), tensor([[1, 2, 3, 4]], [1, 4])]},
            "input 'input-0' is given more than once",
        ),
        (
            {"inputs": [tensor([[1, 2, 3, 4]], [1, 4], "FP32")]},
            "input 'input-0' has datatype FP32; the model expects FP64",
        ),
        (
            {"inputs": [{"name": "input-0", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
            "input 'input-0' has no 'datatype'; expected FP64",
        ),
        (
            {"inputs": [tensor([[1, 2, 3]], [1, 3])]},
            "input 'input-0' has shape [1, 3]; the model expects [-1, 4]",
        ),
        (
            {"inputs": [tensor([1, 2, 3, 4], [4])]},
            "input 'input-0' has shape [4]; the model expects [-1, 4]",
        ),
        ({"inputs": [tensor([1, 2, 3, 4], [1, "4"])]}, "expected a list of non-negative"),
        ({"inputs": [tensor([1, 2, 3, 4], [1, True])]}, "expected a list of non-negative"),
        ({"inputs": [tensor([], [0, 4])]}, "input 'input-0' has no rows"),
        (
            {"inputs": [tensor([[0, 0, 0, 0]] * 9, [9, 4])]},
            "input 'input-0' has 9 rows, more than the limit of 8 (SERVING_MAX_BATCH_ROWS)",
        ),
        ({"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64"}]}, "no 'data'"),
        ({"inputs": [tensor("1,2,3,4", [1, 4])]}, "'data' must be a list"),
        (
            {"inputs": [tensor([1, 2, 3, 4, 5, 6, 7], [2, 4])]},
            "shape [2, 4] needs 8 values, 'data' has 7",
        ),
        (
            {"inputs": [tensor([[1, 2, 3, 4, 5, 6, 7, 8]], [2, 4])]},
            "'data' is nested as [1, 8] but 'shape' is [2, 4]",
        ),
        ({"inputs": [tensor([[1, 2, 3, 4], [5, 6, 7]], [2, 4])]}, "'data' is ragged"),
        (
            {"inputs": [tensor([["1", "2", "3", "4"]], [1, 4])]},
            "input 'input-0': 'data' holds values that are not FP64",
        ),
        ({"inputs": [tensor([[1, None, 3, 4]], [1, 4])]}, "holds values that are not FP64"),
        ({"inputs": [tensor([[True, False, True, True]], [1, 4])]}, "not FP64"),
        (
            {"inputs": [tensor([[1, 2, 3, 4]], [1, 4])], "outputs": [{"name": "proba"}]},
            "unknown output 'proba'; the model produces 'label', 'probabilities'",
        ),
        ({"inputs": [tensor([[1, 2, 3, 4]], [1, 4])], "outputs": "label"}, "'outputs' must be"),
    ],
)
def test_bad_requests_name_the_problem(payload: Any, expected: str) -> None:
    assert expected in rejected(payload)


def test_missing_input_is_named() -> None:
    specs = [TensorSpec("a", "FP32", (-1, 2)), TensorSpec("b", "FP32", (-1, 2))]
    message = rejected({"inputs": [tensor([[1, 2]], [1, 2], "FP32", "a")]}, specs)
    assert message == "missing input 'b'; the model takes 'a', 'b'"


def test_inputs_must_agree_on_rows() -> None:
    specs = [TensorSpec("a", "FP32", (-1, 2)), TensorSpec("b", "FP32", (-1, 2))]
    message = rejected(
        {
            "inputs": [
                tensor([[1, 2]], [1, 2], "FP32", "a"),
                tensor([[1, 2], [3, 4]], [2, 2], "FP32", "b"),
            ]
        },
        specs,
    )
    assert "input 'b' has 2 rows but the other inputs have 1" in message


@pytest.mark.parametrize(
    ("datatype", "data", "ok"),
    [
        ("INT8", [127, -128], True),
        ("INT8", [128, 0], False),
        ("UINT8", [-1, 0], False),
        ("INT32", [1.5, 2], False),
        ("INT64", [1, 2], True),
        ("FP32", [1, 2.5], True),
        ("FP32", [1e39, 0], False),
        ("FP16", [70000.0, 0], False),
        ("BOOL", [True, False], True),
        ("BOOL", [1, 0], False),
    ],
)
def test_values_must_fit_the_datatype(datatype: str, data: list[Any], ok: bool) -> None:
    spec = TensorSpec("x", datatype, (-1,))
    payload = {"inputs": [tensor(data, [2], datatype, "x")]}
    if ok:
        assert parse(payload, [spec]).inputs["x"].tolist() == data
    else:
        assert "input 'x': 'data' holds values" in rejected(payload, [spec])


def test_response_encoding() -> None:
    label = TensorSpec("label", "INT64", (-1,))
    proba = TensorSpec("probabilities", "FP32", (-1, 2))
    names = TensorSpec("name", "BYTES", (-1,))
    body = encode_infer_response(
        "iris",
        "v1",
        "abc",
        [
            (label, np.array([1, 0])),
            (proba, np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)),
            (names, np.array(["setosa", b"virginica"], dtype=object)),
        ],
    )
    assert orjson.loads(body) == {
        "model_name": "iris",
        "model_version": "v1",
        "id": "abc",
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [2], "data": [1, 0]},
            {
                "name": "probabilities",
                "datatype": "FP32",
                "shape": [2, 2],
                "data": [0.25, 0.75, 0.5, 0.5],
            },
            {"name": "name", "datatype": "BYTES", "shape": [2], "data": ["setosa", "virginica"]},
        ],
    }
    assert "id" not in orjson.loads(encode_infer_response("iris", "v1", None, []))


def test_datatype_of_numpy_dtypes() -> None:
    assert datatype_of(np.dtype(np.float32)) == "FP32"
    assert datatype_of(np.dtype(np.int64)) == "INT64"
    assert datatype_of(np.dtype("<U5")) == "BYTES"
    assert datatype_of(np.dtype(object)) == "BYTES"
    with pytest.raises(ValueError, match="complex128"):
        datatype_of(np.dtype(np.complex128))


def test_parse_specs_accepts_lowercase_datatypes() -> None:
    assert parse_specs([{"name": "x", "datatype": "fp32", "shape": [-1, 2]}], "S") == (
        TensorSpec("x", "FP32", (-1, 2)),
    )
    with pytest.raises(ValueError, match="unknown keys: dims"):
        parse_specs([{"name": "x", "datatype": "FP32", "shape": [1], "dims": [1]}], "S")
