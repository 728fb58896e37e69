"""Everything that makes a ModelDeployment spec unusable, in one place: its schema (the same
models that generate the CRD) and what the schema cannot see, such as a check's PromQL.

The admission webhook refuses what this refuses, and the operator, should an object get past
admission (a webhook down, an object stored earlier), reports the same words in status.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modeldeploy.analysis.validate import check_problem
from modeldeploy.api.spec import ModelDeploymentSpec, parse_spec


class InvalidSpec(ValueError):
    """The spec cannot be acted on; the message names every field at fault."""


def describe_validation_error(error: ValidationError, root: str = "spec") -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        parts.append(f"{root}.{location}: {item['msg']}" if location else item["msg"])
    return "; ".join(parts)


def spec_problems(model_spec: ModelDeploymentSpec) -> list[str]:
    """What the schema accepts but the operator could never carry out."""
    if model_spec.rollout is None:
        return []
    problems = []
    for index, check in enumerate(model_spec.rollout.checks):
        problem = check_problem(check)
        if problem is not None:
            problems.append(f"spec.rollout.checks[{index}] ({check.name}): {problem}")
    return problems


def load_spec(raw: dict[str, Any]) -> ModelDeploymentSpec:
    """The spec, if the operator can act on it; InvalidSpec otherwise."""
    try:
        model_spec = parse_spec(raw)
    except ValidationError as error:
        raise InvalidSpec(describe_validation_error(error)) from None
    problems = spec_problems(model_spec)
    if problems:
        raise InvalidSpec("; ".join(problems))
    return model_spec
