from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving_harness import Models

from modeldeploy_serving.model import (
    OFFLOAD_AFTER_SECONDS,
    ModelLoadError,
    PredictionError,
    ServedModel,
)
from modeldeploy_serving.runtimes import RuntimeLoadError, load_runtime
from modeldeploy_serving.runtimes.sklearn_model import SklearnRuntime
from modeldeploy_serving.schema import TensorSpec


def served(
    path: Path,
    model_format: str = "sklearn",
    inputs: list[TensorSpec] | None = None,
    outputs: list[TensorSpec] | None = None,
) -> ServedModel:
    model = ServedModel(
        load_runtime(model_format, str(path)),
        model_format=model_format,
        input_schema=inputs,
        output_schema=outputs,
    )
    model.warm_up()
    return model


def test_sklearn_classifier_declares_label_and_probabilities(models: Models) -> None:
    model = served(models.classifier_path)
    assert model.platform == "sklearn"
    assert model.inputs == [TensorSpec("input-0", "FP64", (-1, 4))]
    assert model.outputs == [
        TensorSpec("label", "INT64", (-1,)),
        TensorSpec("probabilities", "FP64", (-1, 3)),
    ]
    rows = models.features[:5]
    (label, labels), (proba, probabilities) = model.predict({"input-0": rows})
    assert (label.name, proba.name) == ("label", "probabilities")
    assert labels.tolist() == models.classifier.predict(rows).tolist()
    np.testing.assert_allclose(probabilities, models.classifier.predict_proba(rows))


def test_only_requested_outputs_are_computed(models: Models) -> None:
    model = served(models.classifier_path)
    calls: list[str] = []
    estimator = model.runtime._estimator  # type: ignore[attr-defined]
    original = estimator.predict_proba

    def counting(x: np.ndarray) -> np.ndarray:
        calls.append("proba")
        return np.asarray(original(x))

    estimator.predict_proba = counting
    try:
        outputs = model.predict({"input-0": models.features[:2]}, ["label"])
    finally:
        del estimator.predict_proba
    assert [spec.name for spec, _ in outputs] == ["label"]
    assert calls == []


def test_regressor_declares_prediction(models: Models) -> None:
    model = served(models.regressor_path)
    assert model.outputs == [TensorSpec("prediction", "FP64", (-1,))]
    ((_, values),) = model.predict({"input-0": np.array([[1.0, 1.0, 1.0, 1.0]])})
    assert values.tolist() == pytest.approx([10.0])


def test_string_labels_are_bytes(models: Models) -> None:
    model = served(models.string_labels_path)
    assert model.outputs[0] == TensorSpec("label", "BYTES", (-1,))
    (_, labels), _ = model.predict({"input-0": models.features[:3]})
    assert set(labels.tolist()) <= {"setosa", "versicolor", "virginica"}


def test_onnx_graph_inputs_and_outputs(models: Models) -> None:
    model = served(models.onnx_path, "onnx")
    assert model.platform == "onnxruntime_onnx"
    assert model.inputs == [TensorSpec("X", "FP32", (-1, 4))]
    assert model.outputs == [
        TensorSpec("label", "INT64", (-1,)),
        TensorSpec("probabilities", "FP32", (-1, 3)),
    ]


def test_onnx_zipmap_probabilities_become_a_matrix(models: Models) -> None:
    model = served(models.onnx_zipmap_path, "onnx")
    assert [spec.name for spec in model.outputs] == ["output_label", "output_probability"]
    rows = models.features[:4].astype(np.float32)
    (_, labels), (spec, probabilities) = model.predict({"X": rows})
    assert spec == TensorSpec("output_probability", "FP32", (-1, 3))
    assert labels.tolist() == models.classifier.predict(rows).tolist()
    np.testing.assert_allclose(
        probabilities, models.classifier.predict_proba(rows), rtol=1e-4, atol=1e-5
    )


def test_configured_input_schema_wins(models: Models) -> None:
    configured = [TensorSpec("features", "FP32", (-1, 4))]
    model = served(models.classifier_path, inputs=configured)
    assert model.inputs == configured


def test_configured_input_schema_must_fit_the_model(models: Models) -> None:
    with pytest.raises(ModelLoadError, match="declares 5 features but the model was fitted on 4"):
        served(models.classifier_path, inputs=[TensorSpec("x", "FP64", (-1, 5))])
    with pytest.raises(ModelLoadError, match="scikit-learn models take exactly one"):
        served(
            models.classifier_path,
            inputs=[TensorSpec("a", "FP64", (-1, 2)), TensorSpec("b", "FP64", (-1, 2))],
        )
    with pytest.raises(ModelLoadError, match="the ONNX graph takes"):
        served(models.onnx_path, "onnx", inputs=[TensorSpec("features", "FP32", (-1, 4))])


def test_configured_outputs_rename_in_order(models: Models) -> None:
    model = served(
        models.classifier_path,
        outputs=[
            TensorSpec("class", "INT32", (-1,)),
            TensorSpec("scores", "FP32", (-1, 3)),
        ],
    )
    assert [spec.name for spec in model.outputs] == ["class", "scores"]
    (_, labels), (_, scores) = model.predict({"input-0": models.features[:2]})
    assert labels.dtype == np.int32
    assert scores.dtype == np.float32


def test_configured_outputs_select_by_name(models: Models) -> None:
    model = served(models.classifier_path, outputs=[TensorSpec("label", "INT64", (-1,))])
    assert [spec.name for spec in model.outputs] == ["label"]


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ([TensorSpec("a", "FP32", (-1,))], "neither names outputs of the model"),
        ([TensorSpec("label", "INT64", (-1, 2))], "declares output 'label' with shape [-1, 2]"),
        ([TensorSpec("probabilities", "FP64", (-1, 4))], "but the model produces [-1, 3]"),
        ([TensorSpec("probabilities", "INT64", (-1, 3))], "does not convert without loss"),
        ([TensorSpec("label", "BYTES", (-1,))], "does not convert without loss"),
    ],
)
def test_configured_outputs_must_fit_the_model(
    models: Models, outputs: list[TensorSpec], message: str
) -> None:
    with pytest.raises(ModelLoadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        served(models.classifier_path, outputs=outputs)


def test_sqrt_pipeline_warms_up_on_zeros_and_fails_on_negative_input(models: Models) -> None:
    model = served(models.sqrt_pipeline_path)
    ok = model.predict({"input-0": np.array([[1.0, 2.0, 3.0, 4.0]])})
    assert ok[0][1].tolist() == models.sqrt_pipeline.predict([[1.0, 2.0, 3.0, 4.0]]).tolist()
    with pytest.warns(RuntimeWarning), pytest.raises(PredictionError, match="NaN"):
        model.predict({"input-0": np.array([[-1.0, 2.0, 3.0, 4.0]])})


def test_non_finite_predictions_are_errors(models: Models) -> None:
    class Broken:
        n_features_in_ = 2

        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.where(x[:, 0] > 0, np.nan, 0.0)

    model = ServedModel(SklearnRuntime(Broken()), model_format="sklearn")
    model.warm_up()
    with pytest.raises(PredictionError, match="output 'prediction' contains NaN"):
        model.predict({"input-0": np.array([[1.0, 1.0]])})


def test_wrong_row_count_is_an_error() -> None:
    class Collapsing:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.zeros(1)

    model = ServedModel(SklearnRuntime(Collapsing()), model_format="sklearn")
    model.warm_up()
    assert model.inputs == [TensorSpec("input-0", "FP64", (-1, -1))]
    with pytest.raises(PredictionError, match="expected 3 rows"):
        model.predict({"input-0": np.zeros((3, 2))})


def test_warm_up_failure_is_a_load_error() -> None:
    class Failing:
        n_features_in_ = 3

        def predict(self, x: np.ndarray) -> np.ndarray:
            raise ValueError("boom")

    model = ServedModel(SklearnRuntime(Failing()), model_format="sklearn")
    with pytest.raises(ModelLoadError, match="warm-up inference failed: ValueError: boom"):
        model.warm_up()


def test_unloadable_artifacts(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00not a model")
    with pytest.raises(RuntimeLoadError, match="as a joblib/pickle file"):
        load_runtime("sklearn", str(garbage))
    with pytest.raises(RuntimeLoadError, match="as an ONNX model"):
        load_runtime("onnx", str(garbage))
    with pytest.raises(RuntimeLoadError, match="has no predict"):
        SklearnRuntime({"not": "a model"})


def test_slow_models_are_offloaded(models: Models) -> None:
    model = served(models.classifier_path)
    # What loading measured depends on how busy the machine is: the rule is the threshold.
    assert model.predict_seconds > 0
    model.predict_seconds = OFFLOAD_AFTER_SECONDS / 2
    assert not model.offload
    model.predict_seconds = 0.5
    assert model.offload
