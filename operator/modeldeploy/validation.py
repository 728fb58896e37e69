"""Everything that makes a ModelDeployment spec unusable, in one place: its schema (the same
models that generate the CRD), the rules the CRD states in CEL that the models leave out (a
status recorded before a rule must still parse), and what the schema cannot see, such as a
check's PromQL.

The admission webhook refuses what this refuses, and the operator, should an object get past
admission (a webhook down, an object stored earlier), reports the same words in status; for a
CEL rule, the words the API server says.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from modeldeploy.analysis.validate import check_problem
from modeldeploy.api.envnames import USER_SERVING_NAMES, EnvClass, classify, prefix_class
from modeldeploy.api.quantity import quantity_amount
from modeldeploy.api.spec import (
    AUTOSCALING_CPU_WITHOUT_REQUEST,
    DEFAULT_SERVING_IMAGE,
    DUPLICATE_CHECK_NAMES,
    LIMITED_RESOURCES,
    ZERO_INTERVAL,
    ZERO_PROGRESS_DEADLINE,
    ZERO_SMOKE_TIMEOUT,
    CheckSpec,
    ModelDeploymentSpec,
    Notification,
    ServingSpec,
    SmokeTestSpec,
    parse_duration,
    parse_spec,
    request_above_limit,
)
from modeldeploy.api.webhook_targets import STRICT, TargetRules, url_problem

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


def resource_problems(serving: ServingSpec) -> list[str]:
    """A cpu or memory request above its limit, which Kubernetes would refuse in the pods."""
    requests = serving.resources.requests or {}
    limits = serving.resources.limits or {}
    problems = []
    for resource in LIMITED_RESOURCES:
        if resource not in requests or resource not in limits:
            continue
        asked, most = quantity_amount(requests[resource]), quantity_amount(limits[resource])
        if asked is not None and most is not None and asked > most:
            problems.append(
                f"spec.serving.resources: {request_above_limit(resource)} "
                f"({requests[resource]} > {limits[resource]})"
            )
    return problems


def autoscaling_problems(model_spec: ModelDeploymentSpec) -> list[str]:
    """A cpu target the autoscaler could never measure: utilization is a share of a request."""
    scaling = model_spec.autoscaling
    if scaling is None or scaling.targets.cpu_utilization is None:
        return []
    if "cpu" in (model_spec.serving.resources.requests or {}):
        return []
    return [f"spec: {AUTOSCALING_CPU_WITHOUT_REQUEST}"]


def rollout_problems(
    interval: str | None,
    progress_deadline: str | None,
    smoke_test: SmokeTestSpec | None,
    checks: list[CheckSpec] | None,
    root: str = "spec.rollout",
) -> list[str]:
    """Durations the rollout waits on set to zero, and two checks of one name. Fields are
    passed one by one: a ClusterRolloutPolicy's defaults have the same, each optional."""
    problems = []
    durations = [
        ("interval", interval, ZERO_INTERVAL),
        ("progressDeadline", progress_deadline, ZERO_PROGRESS_DEADLINE),
        ("smokeTest.timeout", smoke_test.timeout if smoke_test else None, ZERO_SMOKE_TIMEOUT),
    ]
    for field, value, message in durations:
        if value is not None and parse_duration(value) == 0:
            problems.append(f"{root}.{field} ({value}): {message}")
    names = [check.name for check in checks or []]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(
            f"{root}.checks: {DUPLICATE_CHECK_NAMES} ({', '.join(repeated)} more than once)"
        )
    return problems


NO_SECRETS = (
    "this installation of the operator reads no Secrets (chart value "
    "notifications.fromSecrets=false); give the webhook's address in url"
)


def notification_problems(
    notifications: list[Notification] | None, targets: TargetRules, root: str = "spec"
) -> list[str]:
    """Webhook URLs the operator will not send to (itself, the node, the metadata service,
    the cluster's own network unless allowed)."""
    problems = []
    for index, notification in enumerate(notifications or []):
        where = f"{root}.notifications[{index}].webhook"
        if notification.webhook.url_from is not None and not targets.from_secrets:
            problems.append(f"{where}.urlFrom ({notification.name}): {NO_SECRETS}")
        url = notification.webhook.url
        problem = url_problem(url, targets) if url is not None else None
        if problem is not None:
            problems.append(f"{where}.url ({notification.name}): {problem}")
    return problems


def spec_problems(model_spec: ModelDeploymentSpec, targets: TargetRules = STRICT) -> list[str]:
    """What the schema accepts but the operator could never carry out, or never lets a spec do."""
    problems = env_problems(model_spec.serving) + resource_problems(model_spec.serving)
    problems += notification_problems(model_spec.notifications, targets)
    problems += autoscaling_problems(model_spec)
    rollout = model_spec.rollout
    if rollout is None:
        return problems
    problems += rollout_problems(
        rollout.interval, rollout.progress_deadline, rollout.smoke_test, rollout.checks
    )
    for index, check in enumerate(rollout.checks):
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
    raw: dict[str, Any],
    default_image: str = DEFAULT_SERVING_IMAGE,
    targets: TargetRules = STRICT,
) -> ModelDeploymentSpec:
    """The spec, if the operator can act on it; InvalidSpec otherwise. A spec that names no
    serving image gets `default_image`, the operator's; its webhooks are judged by `targets`,
    what the operator was started allowing."""
    try:
        model_spec = parse_spec(with_serving_image(raw, default_image))
    except ValidationError as error:
        raise InvalidSpec(describe_validation_error(error)) from None
    problems = spec_problems(model_spec, targets)
    if problems:
        raise InvalidSpec("; ".join(problems))
    return model_spec
