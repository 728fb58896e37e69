from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest

try:
    import modeldeploy_serving  # noqa: F401
except ImportError:
    # Not installed: use this checkout's copy, whichever directory pytest runs from.
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from serving_harness import Models, ServerProcess


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("models")
    features, labels = make_classification(
        n_samples=120,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=0,
    )
    classifier = LogisticRegression(max_iter=1000).fit(features, labels)
    classifier_path = root / "iris.joblib"
    joblib.dump(classifier, classifier_path)

    sample = features[:1].astype(np.float32)
    onnx_path = root / "iris.onnx"
    onnx_path.write_bytes(
        to_onnx(classifier, sample, options={id(classifier): {"zipmap": False}}).SerializeToString()
    )
    onnx_zipmap_path = root / "iris-zipmap.onnx"
    onnx_zipmap_path.write_bytes(to_onnx(classifier, sample).SerializeToString())

    # Fine on the non-negative inputs it was fitted on; NaN (and so an error) on negative ones.
    sqrt_pipeline = make_pipeline(
        FunctionTransformer(np.sqrt), LogisticRegression(max_iter=1000)
    ).fit(np.abs(features), labels)
    sqrt_pipeline_path = root / "sqrt.joblib"
    joblib.dump(sqrt_pipeline, sqrt_pipeline_path)

    regressor_path = root / "regressor.pkl"
    joblib.dump(LinearRegression().fit(features, features @ [1.0, 2.0, 3.0, 4.0]), regressor_path)

    names = np.array(["setosa", "versicolor", "virginica"])
    string_labels_path = root / "strings.joblib"
    joblib.dump(
        DecisionTreeClassifier(random_state=0).fit(features, names[labels]), string_labels_path
    )
    return Models(
        root=root,
        features=features,
        labels=labels,
        classifier=classifier,
        classifier_path=classifier_path,
        onnx_path=onnx_path,
        onnx_zipmap_path=onnx_zipmap_path,
        sqrt_pipeline=sqrt_pipeline,
        sqrt_pipeline_path=sqrt_pipeline_path,
        regressor_path=regressor_path,
        string_labels_path=string_labels_path,
    )


@pytest.fixture(scope="session")
def sklearn_server(
    models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("sklearn-server"),
        MODEL_URI=models.classifier_path.as_uri(),
        MODEL_REVISION="rev-a",
        MODEL_SHA256=Models.sha256(models.classifier_path),
        SERVING_MAX_BATCH_ROWS="64",
        SERVING_MAX_BODY_BYTES="65536",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def onnx_server(
    models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("onnx-server"),
        MODEL_URI=models.onnx_path.as_uri(),
        MODEL_FORMAT="onnx",
        MODEL_VERSION="2",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
