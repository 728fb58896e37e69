"""What the server needs from a model runtime."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

import numpy.typing as npt

from ..schema import TensorSpec

Array = npt.NDArray[Any]


class RuntimeLoadError(Exception):
    """The artifact cannot be turned into a working model."""


class Runtime(Protocol):
    #: The ``platform`` reported in model metadata.
    platform: str

    def input_specs(self) -> list[TensorSpec]:
        """Inputs as the artifact declares them."""
        ...

    def output_names(self) -> list[str]:
        """Every output the runtime can produce, in a stable order."""
        ...

    def predict(self, inputs: Mapping[str, Array], wanted: Collection[str]) -> dict[str, Array]:
        """Runs the model, computing only the ``wanted`` outputs."""
        ...
