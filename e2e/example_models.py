"""The models that the ModelDeployments under examples/ name, made and put into the local
cluster's model store, so that each example serves on a fresh cluster as it is written.

Each is trained the same way every time (a fixed seed, one library version from
constraints.txt), so an example may pin its model's sha256. Models in the public bucket are
read by anyone; the others with the key in the Secret `model-store-credentials`, which an
example that reads them takes its credentials from (`credentials_secret` makes it, as a user
makes it outside git).
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from e2e.localcluster.addons import MODEL_STORE_URL
from e2e.model_store import PUBLIC_BUCKET, ModelStore
from e2e.models import train_classifier

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CREDENTIALS_SECRET = "model-store-credentials"
SEED = 1


@dataclass(frozen=True)
class ExampleModel:
    uri: str
    model_format: str
    sha256: str | None  # what the example pins, if it does
    example: Path

    @property
    def bucket(self) -> str:
        return urlparse(self.uri).netloc

    @property
    def key(self) -> str:
        return urlparse(self.uri).path.lstrip("/")


def model_deployments(path: Path) -> list[dict[str, Any]]:
    return [
        doc
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "ModelDeployment"
    ]


def example_models() -> list[ExampleModel]:
    """Every model a ModelDeployment under examples/ names."""
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for manifest in model_deployments(path):
            model = manifest["spec"]["model"]
            found.append(ExampleModel(model["uri"], model["format"], model.get("sha256"), path))
    return found


def make(example: ExampleModel, into: Path) -> Path:
    """The model file of an example, in its format."""
    path = into / example.key
    trained = train_classifier(path.with_suffix(".joblib"), seed=SEED)
    if example.model_format == "sklearn":
        return trained.path
    if example.model_format == "onnx":
        import joblib
        import numpy as np
        from skl2onnx import to_onnx

        classifier = joblib.load(trained.path)
        sample = np.asarray(trained.sample, dtype=np.float32)
        converted = to_onnx(classifier, sample, options={id(classifier): {"zipmap": False}})
        path.write_bytes(converted.SerializeToString())
        return path
    raise ValueError(f"{example.example}: no example model of format {example.model_format}")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_example_models(store: ModelStore) -> list[str]:
    """Puts every example's model into the store; returns their URIs."""
    stored = []
    with tempfile.TemporaryDirectory(prefix="modeldeploy-examples-") as tmp:
        for example in example_models():
            path = make(example, Path(tmp))
            if example.sha256 and sha256_of(path) != example.sha256:
                raise ValueError(
                    f"{example.example}: {example.uri} is {sha256_of(path)}, "
                    f"the example pins {example.sha256}"
                )
            stored.append(store.put(path, example.key, bucket=example.bucket))
    return stored


def credentials_secret(store: ModelStore, namespace: str) -> dict[str, Any]:
    """The Secret the examples that read a private bucket take their credentials from: a key
    that reads those buckets, and where the store answers in the cluster."""
    private = sorted({e.bucket for e in example_models() if e.bucket != PUBLIC_BUCKET})
    access, secret = store.reader_key(*private)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS_SECRET, "namespace": namespace},
        "stringData": {
            "AWS_ACCESS_KEY_ID": access,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL_S3": MODEL_STORE_URL,
        },
    }
