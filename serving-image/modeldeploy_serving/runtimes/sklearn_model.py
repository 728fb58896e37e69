"""scikit-learn estimators saved with joblib or pickle."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import joblib
import numpy as np
from sklearn.base import is_classifier

from ..schema import TensorSpec
from .base import Array, RuntimeLoadError

INPUT_NAME = "input-0"
LABEL = "label"
PROBABILITIES = "probabilities"
PREDICTION = "prediction"


class SklearnRuntime:
    """Serves ``predict`` (and ``predict_proba`` for classifiers) of a fitted estimator.

    Classifiers answer with ``label`` (the ``predict`` result) and, when the estimator
    has ``predict_proba``, ``probabilities`` (one column per class, in ``classes_`` order).
    Any other estimator answers with ``prediction``.
    """

    platform = "sklearn"

    def __init__(self, estimator: Any) -> None:
        if not callable(getattr(estimator, "predict", None)):
            raise RuntimeLoadError(
                f"the artifact holds a {type(estimator).__name__}, which has no predict()"
            )
        self._estimator = estimator
        self._classifier = _is_classifier(estimator)
        # hasattr() is how scikit-learn reports conditionally available methods, e.g. SVC
        # without probability=True, or a Pipeline whose last step has no predict_proba.
        self._has_proba = self._classifier and hasattr(estimator, "predict_proba")
        features = getattr(estimator, "n_features_in_", None)
        self._features = features if isinstance(features, int) and features > 0 else -1

    @classmethod
    def load(cls, path: str) -> SklearnRuntime:
        try:
            estimator = joblib.load(path)
        except Exception as exc:
            raise RuntimeLoadError(
                f"cannot load {path} as a joblib/pickle file: {type(exc).__name__}: {exc}"
            ) from exc
        return cls(estimator)

    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(INPUT_NAME, "FP64", (-1, self._features))]

    def output_names(self) -> list[str]:
        if not self._classifier:
            return [PREDICTION]
        return [LABEL, PROBABILITIES] if self._has_proba else [LABEL]

    def predict(self, inputs: Mapping[str, Array], wanted: Collection[str]) -> dict[str, Array]:
        if len(inputs) != 1:
            raise ValueError(f"scikit-learn models take one input tensor, got {len(inputs)}")
        (features,) = inputs.values()
        outputs: dict[str, Array] = {}
        if PREDICTION in wanted or LABEL in wanted:
            name = LABEL if self._classifier else PREDICTION
            outputs[name] = np.asarray(self._estimator.predict(features))
        if PROBABILITIES in wanted and self._has_proba:
            outputs[PROBABILITIES] = np.asarray(self._estimator.predict_proba(features))
        return outputs


def _is_classifier(estimator: Any) -> bool:
    try:
        return bool(is_classifier(estimator))
    except AttributeError:
        # Duck-typed estimators that do not derive from BaseEstimator have no sklearn tags.
        return getattr(estimator, "_estimator_type", None) == "classifier"
