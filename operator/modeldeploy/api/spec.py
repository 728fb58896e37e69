"""The ModelDeployment API: pydantic models that both validate objects and generate the CRD.

Every bound declared here ends up in the CRD's OpenAPI schema (or its CEL rules), so the API
server rejects bad objects before the operator ever sees them; the same models validate again
in the operator, which is what unit tests exercise.
"""

from __future__ import annotations

import itertools
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel, to_snake

GROUP = "modeldeploy.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ["md"]

DEFAULT_SERVING_IMAGE = "modeldeploy/serving:0.1.0"

# Names derived from a ModelDeployment ("<name>-canary", "<name>-<revision>") must stay valid
# DNS-1035 labels (63 characters), hence the shorter limit on the object's own name.
MAX_NAME_LENGTH = 52

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_DURATION_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
LABEL_VALUE_OR_EMPTY_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
# A label or annotation key: an optional DNS-subdomain prefix and a slash, then a name.
# "[.]", not an escaped dot: the pattern also goes into CEL strings, where "\." is no escape.
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
# Pod labels under these prefixes are the operator's: selectors and checks rely on them.
RESERVED_LABEL_PREFIXES = ("modeldeploy.io/", "app.kubernetes.io/")
# The serving container's writable /tmp (the root filesystem is read-only).
RESERVED_VOLUME = "tmp"
# Kubernetes quantities, less the negative ones: no resource amount is below zero.
QUANTITY_PATTERN = (
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
URI_PATTERN = r"^(file|https?|s3)://.+$"
SHA256_PATTERN = r"^[a-f0-9]{64}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Variables the operator sets for the serving container; a user may not override them.
RESERVED_ENV_PREFIXES = ("MODEL_",)

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]

# The checks a name alone selects (their PromQL lives in analysis/builtins.py); any other name
# needs its own `query`.
BUILTIN_CHECK_NAMES = (
    "error-rate",
    "latency-p95",
    "latency-p99",
    "prediction-drift",
    "prediction-psi",
    "request-count",
    "shadow-agreement",
    "shadow-error-rate",
    "shadow-mean-abs-diff",
)
# Built-ins that already compare canary with stable: maxIncrease makes no sense on them.
STABLE_COMPARING_CHECKS = (
    "prediction-drift",
    "prediction-psi",
    "shadow-agreement",
    "shadow-error-rate",
    "shadow-mean-abs-diff",
)


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90s", "1m30s" or "250ms"."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use a number with ms, s, m or h, e.g. 30s")
    return sum(
        float(number) * _DURATION_UNIT_SECONDS[unit]
        for number, unit in _DURATION_PART.findall(text)
    )


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class ModelFormat(StrEnum):
    SKLEARN = "sklearn"
    ONNX = "onnx"


class TensorDatatype(StrEnum):
    BOOL = "BOOL"
    UINT8 = "UINT8"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    FP16 = "FP16"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"


class TensorSpec(ApiModel):
    """One named input or output tensor, as the Open Inference Protocol describes it."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")]
    datatype: TensorDatatype
    shape: Annotated[
        list[Annotated[int, Field(ge=-1)]],
        Field(min_length=1, max_length=8, description="-1 marks a variable dimension"),
    ]


class ModelSpec(ApiModel):
    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN, description="Name the model serves as")]
    version: Annotated[str, Field(min_length=1, max_length=63, pattern=LABEL_VALUE_PATTERN)]
    uri: Annotated[
        str,
        Field(max_length=2048, pattern=URI_PATTERN, description="file://, http(s):// or s3://"),
    ]
    format: ModelFormat
    sha256: Annotated[str | None, Field(pattern=SHA256_PATTERN)] = None
    inputs: Annotated[list[TensorSpec] | None, Field(max_length=64)] = None
    outputs: Annotated[list[TensorSpec] | None, Field(max_length=64)] = None


Quantity = Annotated[
    int | str,
    Field(
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "minimum": 0,
        }
    ),
]


class ResourceRequirements(ApiModel):
    requests: dict[str, Quantity] | None = None
    limits: dict[str, Quantity] | None = None

    @model_validator(mode="after")
    def _quantities_are_valid(self) -> ResourceRequirements:
        for section in (self.requests or {}, self.limits or {}):
            for resource, quantity in section.items():
                if isinstance(quantity, int):
                    if quantity < 0:
                        raise ValueError(f"resource {resource}: quantity must not be negative")
                elif not re.fullmatch(QUANTITY_PATTERN, quantity):
                    raise ValueError(f"resource {resource}: {quantity!r} is not a quantity")
        return self


def _exactly_one(*fields: str) -> dict[str, Any]:
    """CEL for a union of which exactly one member must be set."""
    rule = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in fields) + " == 1"
    return {"rule": rule, "message": f"exactly one of {', '.join(fields)} must be set"}


def _count_set(model: BaseModel, fields: tuple[str, ...]) -> int:
    return sum(getattr(model, f) is not None for f in fields)


class LocalObjectReference(ApiModel):
    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]


class KeySelector(ApiModel):
    """One key of a Secret or ConfigMap in the ModelDeployment's namespace."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]
    key: Annotated[str, Field(pattern=CONFIG_KEY_PATTERN, max_length=253)]
    optional: bool | None = None


class EnvVarSource(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_exactly_one("secretKeyRef", "configMapKeyRef")]
        }
    )

    secret_key_ref: KeySelector | None = None
    config_map_key_ref: KeySelector | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVarSource:
        if _count_set(self, ("secret_key_ref", "config_map_key_ref")) != 1:
            raise ValueError("exactly one of secretKeyRef, configMapKeyRef must be set")
        return self


class EnvVar(ApiModel):
    """A variable with a value, or one read from a Secret or ConfigMap key (credentials for a
    private bucket, say, never written into the ModelDeployment)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.valueFrom) && has(self.value) && self.value != '')",
                    "message": "value and valueFrom are mutually exclusive",
                }
            ]
        }
    )

    name: Annotated[str, Field(pattern=ENV_NAME_PATTERN, max_length=256)]
    value: Annotated[str, Field(max_length=32768)] = ""
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        if self.value_from is not None and self.value != "":
            raise ValueError(f"env {self.name}: value and valueFrom are mutually exclusive")
        return self


class EnvFromSource(ApiModel):
    """Every key of a Secret or ConfigMap as a variable, optionally prefixed."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one("secretRef", "configMapRef")]}
    )

    prefix: Annotated[str | None, Field(pattern=ENV_NAME_PATTERN, max_length=128)] = None
    secret_ref: LocalObjectReference | None = None
    config_map_ref: LocalObjectReference | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvFromSource:
        if _count_set(self, ("secret_ref", "config_map_ref")) != 1:
            raise ValueError("envFrom: exactly one of secretRef, configMapRef must be set")
        if (self.prefix or "").startswith(RESERVED_ENV_PREFIXES):
            raise ValueError("envFrom prefix: names starting with MODEL_ are set by the operator")
        return self


# Kubernetes objects passed through to the pod as they are; the API server validates them when
# the operator creates the Deployment, and a refusal is reported in status and an Event.
OpaqueObject = Annotated[
    dict[str, Any],
    Field(json_schema_extra={"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
VOLUME_SOURCES = (
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "csi",
    "ephemeral",
)


class Volume(ApiModel):
    """A pod volume of a kind the restricted Pod Security Standard allows (no hostPath)."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one(*VOLUME_SOURCES)]}
    )

    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
    config_map: OpaqueObject | None = None
    secret: OpaqueObject | None = None
    empty_dir: OpaqueObject | None = None
    persistent_volume_claim: OpaqueObject | None = None
    projected: OpaqueObject | None = None
    csi: OpaqueObject | None = None
    ephemeral: OpaqueObject | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        fields = tuple(to_snake(f) for f in VOLUME_SOURCES)
        if _count_set(self, fields) != 1:
            raise ValueError(f"volume {self.name}: exactly one of {', '.join(VOLUME_SOURCES)}")
        return self


class VolumeMount(ApiModel):
    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
    mount_path: Annotated[str, Field(pattern=r"^/.*$", max_length=1024)]
    read_only: bool | None = None
    sub_path: Annotated[str | None, Field(pattern=r"^[^/].*$", max_length=1024)] = None


class Toleration(ApiModel):
    key: Annotated[str | None, Field(max_length=316)] = None
    operator: Literal["Exists", "Equal"] | None = None
    value: Annotated[str | None, Field(max_length=63)] = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class TopologySpread(ApiModel):
    """Spreads each revision's pods; the operator selects them, so no labelSelector here."""

    max_skew: Annotated[int, Field(ge=1)]
    topology_key: Annotated[str, Field(min_length=1, max_length=316)]
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"]
    min_domains: Annotated[int | None, Field(ge=1)] = None


_QUALIFIED_KEYS = {
    "rule": f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
    "message": "keys must be qualified names (an optional DNS prefix and /, then a name of up "
    "to 63 characters)",
}
StringMap = Annotated[
    dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_OR_EMPTY_PATTERN)]],
    Field(
        max_length=64,
        json_schema_extra={"x-kubernetes-validations": [_QUALIFIED_KEYS]},
    ),
]
AnnotationMap = Annotated[
    dict[str, Annotated[str, Field(max_length=65536)]],
    Field(
        max_length=64,
        json_schema_extra={"x-kubernetes-validations": [_QUALIFIED_KEYS]},
    ),
]


class DisruptionBudget(ApiModel):
    """How many of a revision's pods voluntary disruptions (a node drain) may take at once."""

    max_unavailable: Annotated[
        int | str,
        Field(
            json_schema_extra={
                "x-kubernetes-int-or-string": True,
                "pattern": r"^[0-9]+%$",
                "minimum": 0,
            }
        ),
    ] = 1

    @model_validator(mode="after")
    def _count_or_percent(self) -> DisruptionBudget:
        value = self.max_unavailable
        if isinstance(value, int) and value < 0:
            raise ValueError("disruptionBudget.maxUnavailable must not be negative")
        if isinstance(value, str) and not re.fullmatch(r"^[0-9]+%$", value):
            raise ValueError("disruptionBudget.maxUnavailable: a count or a percentage like 25%")
        return self


_DEFAULT_RESOURCES = ResourceRequirements(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
)


class ServingSpec(ApiModel):
    image: Annotated[str, Field(min_length=1, max_length=512)] = DEFAULT_SERVING_IMAGE
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    resources: ResourceRequirements = _DEFAULT_RESOURCES
    env: Annotated[
        list[EnvVar],
        Field(
            max_length=128,
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(e, !e.name.startsWith('MODEL_'))",
                        "message": "env names starting with MODEL_ are set by the operator",
                    },
                    {
                        "rule": "self.all(e, self.exists_one(f, f.name == e.name))",
                        "message": "env names must be unique",
                    },
                ]
            },
        ),
    ] = []
    startup_timeout: Duration = "5m"
    env_from: Annotated[list[EnvFromSource] | None, Field(max_length=16)] = None
    service_account_name: Annotated[
        str | None, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)
    ] = None
    volumes: Annotated[list[Volume] | None, Field(max_length=32)] = None
    volume_mounts: Annotated[list[VolumeMount] | None, Field(max_length=32)] = None
    node_selector: StringMap | None = None
    tolerations: Annotated[list[Toleration] | None, Field(max_length=32)] = None
    affinity: OpaqueObject | None = None
    topology_spread_constraints: Annotated[list[TopologySpread] | None, Field(max_length=8)] = None
    image_pull_secrets: Annotated[list[LocalObjectReference] | None, Field(max_length=16)] = None
    pod_labels: StringMap | None = None
    pod_annotations: AnnotationMap | None = None
    disruption_budget: DisruptionBudget | None = None

    @model_validator(mode="after")
    def _pod_fields_are_coherent(self) -> ServingSpec:
        volumes = [v.name for v in self.volumes or []]
        if len(set(volumes)) != len(volumes):
            raise ValueError("volume names must be unique")
        if RESERVED_VOLUME in volumes:
            raise ValueError(f"volume {RESERVED_VOLUME}: the name is the operator's own")
        for mount in self.volume_mounts or []:
            if mount.name not in volumes:
                raise ValueError(f"volumeMount {mount.name}: no volume of that name")
            if mount.mount_path.rstrip("/") == "/tmp":
                raise ValueError("volumeMount at /tmp: the operator mounts its own there")
        for key in {**(self.node_selector or {}), **(self.pod_labels or {}),
                    **(self.pod_annotations or {})}:  # fmt: skip
            if not re.fullmatch(QUALIFIED_NAME_PATTERN, key):
                raise ValueError(f"{key!r} is not a qualified name")
        for key in self.pod_labels or {}:
            if key.startswith(RESERVED_LABEL_PREFIXES):
                raise ValueError(f"pod label {key}: the operator sets labels under this prefix")
        return self

    @model_validator(mode="after")
    def _env_is_not_reserved(self) -> ServingSpec:
        names = [e.name for e in self.env]
        for name in names:
            if name.startswith(RESERVED_ENV_PREFIXES):
                raise ValueError(f"env {name}: names starting with MODEL_ are set by the operator")
        if len(set(names)) != len(names):
            raise ValueError("env names must be unique")
        return self


class RolloutStep(ApiModel):
    weight: Annotated[int, Field(ge=1, le=100, description="Percent of traffic to the canary")]
    pause: Duration | None = None
    approval: Annotated[
        Literal["required"] | None,
        Field(
            description="required: the ramp holds at this step until `kubectl modeldeploy "
            "promote`; checks keep running and a breach still rolls back"
        ),
    ] = None


class HTTPRouteRef(ApiModel):
    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]


class RouterKind(StrEnum):
    REPLICAS = "replicas"
    GATEWAY_API = "gateway-api"


class TrafficSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    # router may be left out (it defaults to replicas): test for it first.
                    "rule": "!has(self.router) || self.router != 'gateway-api' "
                    "|| has(self.httpRoute)",
                    "message": "router gateway-api needs httpRoute",
                }
            ]
        }
    )

    router: RouterKind = RouterKind.REPLICAS
    http_route: HTTPRouteRef | None = Field(default=None, alias="httpRoute")

    @model_validator(mode="after")
    def _gateway_needs_route(self) -> TrafficSpec:
        if self.router is RouterKind.GATEWAY_API and self.http_route is None:
            raise ValueError("router gateway-api needs httpRoute")
        return self


class CheckSpec(ApiModel):
    """A Prometheus check: a built-in by name, or custom PromQL in `query`."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.max) || has(self.min) || has(self.maxIncrease)",
                    "message": "a check needs a bound: max, min or maxIncrease",
                },
                {
                    "rule": f"has(self.query) || self.name in {_cel_list(BUILTIN_CHECK_NAMES)}",
                    "message": "a check without query must name a built-in: "
                    + ", ".join(BUILTIN_CHECK_NAMES),
                },
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "message": "min is above max: no value could pass",
                },
                {
                    "rule": "has(self.query) || !has(self.maxIncrease) || !(self.name in "
                    f"{_cel_list(STABLE_COMPARING_CHECKS)})",
                    "message": "this built-in already compares canary with stable; "
                    "bound it with max, not maxIncrease",
                },
            ]
        }
    )

    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
    query: Annotated[str | None, Field(min_length=1, max_length=8192)] = None
    max: float | None = None
    min: float | None = None
    max_increase: Annotated[
        float | None, Field(ge=0, description="Largest allowed rise over stable, 0.1 = 10%")
    ] = None

    @model_validator(mode="after")
    def _has_bound(self) -> CheckSpec:
        if self.max is None and self.min is None and self.max_increase is None:
            raise ValueError(f"check {self.name}: needs a bound: max, min or maxIncrease")
        if self.query is None and self.name not in BUILTIN_CHECK_NAMES:
            raise ValueError(
                f"check {self.name}: without query it must name a built-in: "
                + ", ".join(BUILTIN_CHECK_NAMES)
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"check {self.name}: min {self.min:g} is above max {self.max:g}: "
                "no value could pass"
            )
        if (
            self.query is None
            and self.max_increase is not None
            and self.name in STABLE_COMPARING_CHECKS
        ):
            raise ValueError(
                f"check {self.name}: already compares canary with stable; "
                "bound it with max, not maxIncrease"
            )
        return self


# Any JSON value, kept as it is (the tensor data of a smoke request).
JsonValue = Annotated[Any, Field(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})]


class SmokeInput(ApiModel):
    """One input tensor of a smoke request, as an Open Inference Protocol infer body names it."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=8)]
    datatype: TensorDatatype
    data: Annotated[list[JsonValue], Field(min_length=1, max_length=4096)]


class SmokeExpectation(ApiModel):
    """What one output must hold: numbers (within `tolerance`) or labels, element by element."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one("values", "labels")]}
    )

    output: Annotated[
        str | None,
        Field(min_length=1, max_length=128, description="Output to compare; the first if unset"),
    ] = None
    values: Annotated[list[float] | None, Field(min_length=1, max_length=4096)] = None
    labels: Annotated[
        list[Annotated[str, Field(max_length=256)]] | None, Field(min_length=1, max_length=4096)
    ] = None
    tolerance: Annotated[
        float,
        Field(ge=0, description="Largest allowed absolute difference of each value; 0 = exact"),
    ] = 0.0

    @model_validator(mode="after")
    def _one_kind(self) -> SmokeExpectation:
        if _count_set(self, ("values", "labels")) != 1:
            raise ValueError("smoke expectation: exactly one of values, labels must be set")
        return self


class SmokeRequest(ApiModel):
    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
    inputs: Annotated[list[SmokeInput], Field(min_length=1, max_length=16)]
    expect: SmokeExpectation


class SmokeRequestsSource(ApiModel):
    config_map_key_ref: KeySelector = Field(
        description="A key holding a YAML or JSON list of smoke requests"
    )


class SmokeTestSpec(ApiModel):
    """Golden requests sent to the new revision's pods once they are Ready, before any client
    traffic reaches it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.requests) || has(self.requestsFrom)",
                    "message": "a smoke test needs requests or requestsFrom",
                }
            ]
        }
    )

    requests: Annotated[list[SmokeRequest] | None, Field(min_length=1, max_length=64)] = None
    requests_from: SmokeRequestsSource | None = None
    pass_ratio: Annotated[
        float, Field(gt=0, le=1, description="Share of requests that must pass; 1 = all")
    ] = 1.0
    timeout: Duration = "5s"

    @model_validator(mode="after")
    def _has_requests(self) -> SmokeTestSpec:
        if self.requests is None and self.requests_from is None:
            raise ValueError("smokeTest: needs requests or requestsFrom")
        return self


class ShadowSpec(ApiModel):
    """Before any weight, the stable's own pods copy a sample of live requests to the new
    revision and compare its answers with theirs; the new revision's answers reach no one."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.minAgreement) || has(self.maxMeanAbsDiff)",
                    "message": "shadow needs minAgreement or maxMeanAbsDiff",
                }
            ]
        }
    )

    percent: Annotated[
        float, Field(gt=0, le=100, description="Share of live requests copied, in percent")
    ] = 10.0
    duration: Annotated[
        Duration, Field(description="How long the copies go on; checks run every interval")
    ] = "2m"
    min_agreement: Annotated[
        float | None,
        Field(
            ge=0,
            le=1,
            description="Least share of label outputs (class, integer, string) on which the new "
            "revision must answer as the stable does",
        ),
    ] = None
    max_mean_abs_diff: Annotated[
        float | None,
        Field(
            ge=0,
            description="Largest mean absolute difference of floating-point outputs (scores, "
            "probabilities, regression values) from the stable's",
        ),
    ] = None
    max_error_rate: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Largest share of copies the new revision fails to answer with 200",
        ),
    ] = 0.05

    @model_validator(mode="after")
    def _has_bound(self) -> ShadowSpec:
        if self.min_agreement is None and self.max_mean_abs_diff is None:
            raise ValueError("shadow needs minAgreement or maxMeanAbsDiff")
        return self


class BlueGreenSpec(ApiModel):
    preview_duration: Annotated[
        Duration,
        Field(
            description="How long the new revision, at full size behind the preview Service, "
            "is checked before all traffic switches to it"
        ),
    ] = "1m"
    approval: Annotated[
        Literal["required"] | None,
        Field(description="required: hold before the switch until a person promotes"),
    ] = None


class RolloutSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.steps) && has(self.stepWeights))",
                    "message": "use steps or stepWeights, not both",
                },
                {
                    "rule": "!has(self.blueGreen) || "
                    "(has(self.strategy) && self.strategy == 'blueGreen')",
                    "message": "blueGreen options need strategy: blueGreen",
                },
            ]
        }
    )

    strategy: Annotated[
        Literal["canary", "blueGreen"],
        Field(
            description="canary: weighted steps; blueGreen: the new revision at full size "
            "behind the preview Service, then one switch of all traffic"
        ),
    ] = "canary"
    blue_green: BlueGreenSpec | None = None

    steps: Annotated[
        list[RolloutStep] | None,
        Field(
            min_length=1,
            max_length=32,
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(s, self.filter(t, t.weight == s.weight).size() == 1)"
                        " && self.map(s, s.weight).isSorted()",
                        "message": "step weights must rise from step to step",
                    }
                ]
            },
        ),
    ] = None
    step_weights: Annotated[
        list[Annotated[int, Field(ge=1, le=100)]] | None,
        Field(
            min_length=1,
            max_length=32,
            json_schema_extra={
                "x-kubernetes-list-type": "set",
                "x-kubernetes-validations": [
                    {"rule": "self.isSorted()", "message": "stepWeights must rise"}
                ],
            },
        ),
    ] = None
    interval: Duration = "30s"
    failure_limit: Annotated[int, Field(ge=0, le=100)] = 0
    inconclusive_limit: Annotated[int, Field(ge=0, le=100)] = 3
    min_requests: Annotated[
        int,
        Field(
            ge=0,
            description="Canary inference requests needed in a check window; fewer makes every "
            "check inconclusive, never a pass",
        ),
    ] = 0
    progress_deadline: Duration = "10m"
    scale_down_delay: Duration = "30s"
    rollback_window: Duration = "10m"
    traffic: TrafficSpec = TrafficSpec()
    checks: Annotated[list[CheckSpec], Field(max_length=32)] = []
    smoke_test: SmokeTestSpec | None = None
    shadow: ShadowSpec | None = None
    schema_change: Annotated[
        Literal["Refuse", "Allow"],
        Field(
            description="Refuse: a new revision whose model inputs or outputs differ "
            "incompatibly from the stable's is rolled back before any traffic; Allow: the "
            "change is intended"
        ),
    ] = "Refuse"

    @model_validator(mode="after")
    def _steps_ascend(self) -> RolloutSpec:
        if self.steps is not None and self.step_weights is not None:
            raise ValueError("use steps or stepWeights, not both")
        if self.blue_green is not None and self.strategy != "blueGreen":
            raise ValueError("blueGreen options need strategy: blueGreen")
        weights = [s.weight for s in self.resolved_steps()]
        for earlier, later in itertools.pairwise(weights):
            if later <= earlier:
                raise ValueError(f"step weights must rise: {later} follows {earlier}")
        return self

    def resolved_steps(self) -> list[RolloutStep]:
        if self.steps is not None:
            return list(self.steps)
        if self.step_weights is not None:
            return [RolloutStep(weight=w) for w in self.step_weights]
        return []


class SecretKeySource(ApiModel):
    secret_key_ref: KeySelector


class WebhookTarget(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one("url", "urlFrom")]}
    )

    url: Annotated[str | None, Field(pattern=r"^https?://.+$", max_length=2048)] = None
    url_from: SecretKeySource | None = None
    format: Literal["generic", "slack"] = "generic"

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTarget:
        if _count_set(self, ("url", "url_from")) != 1:
            raise ValueError("exactly one of url, urlFrom must be set")
        return self


class Notification(ApiModel):
    name: Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
    webhook: WebhookTarget


class ModelDeploymentSpec(ApiModel):
    model: ModelSpec
    serving: ServingSpec = ServingSpec()
    replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    rollout: RolloutSpec | None = None
    notifications: Annotated[
        list[Notification] | None,
        Field(
            max_length=8,
            description="Webhooks told of this object's rollouts; a urlFrom Secret lives in its "
            "namespace",
        ),
    ] = None


def parse_spec(raw: dict[str, Any]) -> ModelDeploymentSpec:
    """The spec as the API server would take it: JSON types as they are (no "5" for 5, no true
    for 1), so that what the models accept, the CRD accepts too."""
    return ModelDeploymentSpec.model_validate_json(json.dumps(raw), strict=True)


def revision_source(model_spec: ModelDeploymentSpec) -> dict[str, Any]:
    """The snapshot of `model_spec` that `spec_from_source` turns back into a spec."""
    return {
        "model": model_spec.model.model_dump(mode="json", by_alias=True, exclude_none=True),
        "serving": model_spec.serving.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def spec_from_source(source: dict[str, Any], replicas: int) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({**source, "replicas": replicas})
