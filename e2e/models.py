"""Small real models for tests and the demo, trained on generated data (no downloads)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    sha256: str
    sample: list[list[float]]
    expected: list[int]
    # Where pods fetch it from once it has been put into a store (see e2e.model_store).
    stored_at: str | None = None

    @property
    def uri(self) -> str:
        return self.stored_at or self.path.resolve().as_uri()

    def infer_request(self, input_name: str = "input-0") -> dict[str, Any]:
        return {
            "inputs": [
                {
                    "name": input_name,
                    "shape": [len(self.sample), len(self.sample[0])],
                    "datatype": "FP64",
                    "data": self.sample,
                }
            ]
        }


def _clusters(seed: int, n_features: int) -> tuple[Any, Any, Any]:
    """Three well-separated classes: (centers, features, labels)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = np.array([[0.0] * n_features, [4.0] * n_features, [8.0] * n_features])
    labels = rng.integers(0, 3, size=600)
    features = centers[labels] + rng.normal(scale=0.6, size=(600, n_features))
    return centers, features, labels


def _save(model: Any, path: Path, centers: Any) -> TrainedModel:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    sample = centers + 0.1
    return TrainedModel(
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        sample=sample.tolist(),
        expected=[int(v) for v in model.predict(sample)],
    )


def train_classifier(path: Path, seed: int = 0, n_features: int = 4) -> TrainedModel:
    """A logistic regression over three well-separated clusters, saved with joblib."""
    from sklearn.linear_model import LogisticRegression

    centers, features, labels = _clusters(seed, n_features)
    return _save(LogisticRegression(max_iter=500).fit(features, labels), path, centers)


def train_mislabelled(path: Path, seed: int = 0, n_features: int = 4) -> TrainedModel:
    """A classifier trained on shifted labels: it loads, answers every request with 200 and
    well-formed predictions, and every prediction is the wrong class."""
    from sklearn.linear_model import LogisticRegression

    centers, features, labels = _clusters(seed, n_features)
    return _save(LogisticRegression(max_iter=500).fit(features, (labels + 1) % 3), path, centers)


def train_failing_on_negatives(path: Path, seed: int = 0, n_features: int = 4) -> TrainedModel:
    """A pipeline that takes the square root of its inputs before classifying.

    It loads, warms up on zeros and becomes Ready like any model, but every request with a
    negative feature yields NaN inside the pipeline and scikit-learn refuses to predict: a real
    artifact that answers 5xx to part of real traffic.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    centers, features, labels = _clusters(seed, n_features)
    model = make_pipeline(FunctionTransformer(np.sqrt), LogisticRegression(max_iter=500))
    return _save(model.fit(np.abs(features), labels), path, centers)


def traffic_rows(count: int = 64, seed: int = 7, n_features: int = 4) -> list[list[float]]:
    """Feature rows such as clients send: spread around the classes, some below zero."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = rng.normal(loc=3.0, scale=3.0, size=(count, n_features))
    return [[round(float(v), 3) for v in row] for row in rows]
