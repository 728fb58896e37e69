"""Everything that makes a ModelDeployment spec unusable, in one place: its schema (the same
models that generate the CRD) and what the schema cannot see, such as a check's PromQL.

The admission webhook refuses what this refuses, and the operator, should an object get past
admission (a webhook down, an object stored earlier), reports the same words in status.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modeldeploy.analysis.validate import check_problem
from modeldeploy.api.envnames import USER_SERVING_NAMES, EnvClass, classify, prefix_class
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, ModelDeploymentSpec, ServingSpec, parse_spec

# Names no spec sets: the operator's own, and those that change the code the image runs
# (api.envnames). Those that change where the model is fetched from are a policy's to refuse,
# as is what an envFrom source's unseen keys could set.
REFUSED_ENV = (EnvClass.OPERATOR, EnvClass.CODE)


class InvalidSpec(ValueError):
    """The spec cannot be acted on; the message names every field at fault."""


def describe_validation_error(error: ValidationError, root: str = "spec") -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        parts.append(f"{root}.{location}: {item['msg']}" if location else item["msg"])
    return "; ".join(parts)


def _why_refused(name: str, env_class: EnvClass, why: str) -> str:
    if env_class is EnvClass.OPERATOR and name.upper().startswith("SERVING_"):
        why += "; the serving image's settings a spec may tune are " + ", ".join(
            sorted(USER_SERVING_NAMES)
        )
    return why


def env_problems(serving: ServingSpec) -> list[str]:
    """Variables no spec sets, named in `env` or made by an `envFrom` prefix under a reserved
    one (`LD_`). What the keys of an `envFrom` source may make besides is unseen here: a policy
    that restricts images or model sources judges it."""
    problems = []
    for index, var in enumerate(serving.env):
        env_class, why = classify(var.name)
        if env_class in REFUSED_ENV:
            problems.append(
                f"spec.serving.env[{index}] ({var.name}): no spec sets this name: "
                + _why_refused(var.name, env_class, why)
            )
    for index, source in enumerate(serving.env_from or []):
        env_class, why = prefix_class(source.prefix or "")
        if env_class in REFUSED_ENV:
            problems.append(
                f"spec.serving.envFrom[{index}].prefix ({source.prefix}): every name it makes "
                f"is one no spec sets: {why}"
            )
    return problems


def spec_problems(model_spec: ModelDeploymentSpec) -> list[str]:
    """What the schema accepts but the operator could never carry out, or never lets a spec do."""
    problems = env_problems(model_spec.serving)
    if model_spec.rollout is None:
        return problems
    for index, check in enumerate(model_spec.rollout.checks):
        problem = check_problem(check)
        if problem is not None:
            problems.append(f"spec.rollout.checks[{index}] ({check.name}): {problem}")
    return problems


def with_serving_image(raw: dict[str, Any], default_image: str) -> dict[str, Any]:
    """`raw` with `default_image` as its serving image where it names none; `raw` itself,
    unchanged, where it does (or where its `serving` is no object, for the schema to refuse)."""
    serving = raw.get("serving", {})
    if not isinstance(serving, dict) or "image" in serving:
        return raw
    return {**raw, "serving": {**serving, "image": default_image}}


def load_spec(
    raw: dict[str, Any], default_image: str = DEFAULT_SERVING_IMAGE
) -> ModelDeploymentSpec:
    """The spec, if the operator can act on it; InvalidSpec otherwise. A spec that names no
    serving image gets `default_image`, the operator's."""
    try:
        model_spec = parse_spec(with_serving_image(raw, default_image))
    except ValidationError as error:
        raise InvalidSpec(describe_validation_error(error)) from None
    problems = spec_problems(model_spec)
    if problems:
        raise InvalidSpec("; ".join(problems))
    return model_spec
