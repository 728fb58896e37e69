"""The models the local cluster stores for examples/: one for every model an example names,
made the same way each time, so that a pinned sha256 holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.example_models import ExampleModel, example_models, make, sha256_of


def test_every_example_names_a_model() -> None:
    named = {e.example.name for e in example_models()}
    assert {"iris.yaml", "fraud.yaml", "churn.yaml"} <= named


@pytest.mark.parametrize("example", example_models(), ids=lambda e: e.uri)
def test_the_model_is_made_alike_each_time_and_as_pinned(
    example: ExampleModel, tmp_path: Path
) -> None:
    first = sha256_of(make(example, tmp_path / "a"))
    assert first == sha256_of(make(example, tmp_path / "b"))
    if example.sha256:
        assert first == example.sha256, f"{example.example}: pin {first}"
