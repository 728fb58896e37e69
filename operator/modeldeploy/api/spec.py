"""The ModelDeployment API: pydantic models that both validate objects and generate the CRD.

Every bound declared here ends up in the CRD's OpenAPI schema (or its CEL rules), so the API
server rejects bad objects before the operator ever sees them; the same models validate again
in the operator, which is what unit tests exercise.

Every field's description and every model's docstring become the CRD's descriptions, which
`kubectl explain` and docs/reference.md show: say what the field does, its unit and default,
and how it bears on others. A field's own description wins over its model's docstring; a field
without one is described by its model's. `tests/unit/test_crd_descriptions.py` finds any node
left without.
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
# Not "md": Cluster API's MachineDeployment has it, and kubectl would pick one of the two.
SHORT_NAMES = ["mdep"]

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
"""A duration: numbers with a unit each (ms, s, m, h), e.g. 30s, 1m30s, 1.5h, 250ms."""

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


# Rules the CRD states in CEL and `validation` checks again for what got past the schema (a
# stored status must still parse what was stored before them, so the models leave them out).
# Each message is the API server's and the operator's alike.

# Resources whose request Kubernetes holds to at most their limit.
LIMITED_RESOURCES = ("cpu", "memory")


def request_above_limit(resource: str) -> str:
    return (
        f"requests.{resource} is above limits.{resource}: Kubernetes refuses a container whose "
        "request exceeds its limit"
    )


def _request_within_limit(resource: str) -> dict[str, Any]:
    request, limit = f"self.requests['{resource}']", f"self.limits['{resource}']"
    # string(): a quantity is an integer or a string. An unreadable one is the pattern's to
    # refuse, not quantity()'s to fail on.
    rule = (
        f"!has(self.requests) || !has(self.limits) || !('{resource}' in self.requests) || "
        f"!('{resource}' in self.limits) || !isQuantity(string({request})) || "
        f"!isQuantity(string({limit})) || "
        f"quantity(string({request})).compareTo(quantity(string({limit}))) <= 0"
    )
    return {"rule": rule, "message": request_above_limit(resource)}


# Durations a rollout waits on, which at zero would leave it nothing to wait for: checks run
# back to back over an empty window, a new revision out of time before its first pod, a smoke
# request out of time before it is sent.
ZERO_INTERVAL = "interval must be more than 0s: the checks run every interval, over the last one"
ZERO_PROGRESS_DEADLINE = (
    "progressDeadline must be more than 0s: a new revision has this long to get its pods Ready"
)
ZERO_SMOKE_TIMEOUT = "timeout must be more than 0s: each smoke request has this long to answer"


def _positive(message: str) -> dict[str, Any]:
    # A duration is a sum of non-negative numbers with units: above zero when any digit is.
    return {"x-kubernetes-validations": [{"rule": "self.matches('[1-9]')", "message": message}]}


DUPLICATE_CHECK_NAMES = (
    "check names must be unique: a check's result is kept, and its breach reported, under its name"
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

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            pattern=r"^[A-Za-z0-9_.:/-]+$",
            description="The tensor's name, as clients send it (an input) or read it (an "
            "output) in an infer request.",
        ),
    ]
    datatype: Annotated[
        TensorDatatype,
        Field(
            description="The Open Inference Protocol datatype of its elements: BOOL, UINT8, "
            "INT8, INT16, INT32, INT64, FP16, FP32, FP64 or BYTES (strings). The server "
            "converts nothing: an input must be sent in exactly this datatype."
        ),
    ]
    shape: Annotated[
        list[Annotated[int, Field(ge=-1, description="A dimension's size; -1 for any size.")]],
        Field(
            min_length=1,
            max_length=8,
            description="The tensor's dimensions, the first being the batch (rows); -1 marks "
            "a dimension of any size, e.g. [-1, 4] for any number of rows of 4 values.",
        ),
    ]


class ModelSpec(ApiModel):
    """The model to serve: its artifact, its format, and the name and version it is served
    under. Every field is part of the revision: changing any of them starts a rollout."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL_PATTERN,
            description="The name the model is served under: the serving pods answer at "
            "/v2/models/<name>, label their metrics model=<name>, and a check's query can use "
            "it as {{model}}. A DNS label.",
        ),
    ]
    version: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            pattern=LABEL_VALUE_PATTERN,
            description="The model's version, shown in status (stable, canary, history) and "
            "by `kubectl get mdep`; the pods' app.kubernetes.io/version label and their "
            "metrics' version label ({{version}} in a check's query). A label value. A new "
            "version starts a rollout even when uri stays the same.",
        ),
    ]
    uri: Annotated[
        str,
        Field(
            max_length=2048,
            pattern=URI_PATTERN,
            description="Where each serving pod fetches the artifact when it starts: "
            "file:// (a path in the container, e.g. on one of serving.volumes), http(s):// or "
            "s3://bucket/key (credentials from serving.env, envFrom or serviceAccountName). "
            "A ClusterRolloutPolicy may restrict it (rules.allowedModelUris).",
        ),
    ]
    format: Annotated[
        ModelFormat,
        Field(
            description="The artifact's format: sklearn (a scikit-learn estimator in a joblib "
            "or pickle file) or onnx."
        ),
    ]
    sha256: Annotated[
        str | None,
        Field(
            pattern=SHA256_PATTERN,
            description="The SHA-256 digest (64 lowercase hex digits) the artifact must have. "
            "On a mismatch the serving pods never become Ready, so a new revision is rolled "
            "back (see serving.startupTimeout and rollout.progressDeadline). Pin pickled "
            "scikit-learn models: loading one runs its code. A ClusterRolloutPolicy may require "
            "it (rules.requireSha256).",
        ),
    ] = None
    inputs: Annotated[
        list[TensorSpec] | None,
        Field(
            max_length=64,
            description="The input tensors the server accepts, declared here instead of by "
            "the artifact (a scikit-learn model: one FP64 input named input-0 of shape "
            "[-1, features]; ONNX: the graph's inputs). Every request is validated against "
            "them, and with rollout.schemaChange Refuse a new revision's inputs are compared "
            "with the stable's before any client traffic.",
        ),
    ] = None
    outputs: Annotated[
        list[TensorSpec] | None,
        Field(
            max_length=64,
            description="The output tensors the server returns, declared here instead of by "
            "the artifact: when every name is one of the model's outputs, those are selected "
            "and declared; otherwise the list must have one entry per output and renames them "
            "in order. Unset: label and probabilities for a scikit-learn classifier, "
            "prediction for other estimators, the graph's outputs for ONNX.",
        ),
    ] = None


Quantity = Annotated[
    int | str,
    Field(
        description="A Kubernetes quantity: a number with an optional suffix, e.g. 500m, 2, "
        "512Mi or 1Gi.",
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "minimum": 0,
        },
    ),
]


class ResourceRequirements(ApiModel):
    """Compute resources of the serving container, by resource name (cpu, memory,
    ephemeral-storage or an extended resource), as in a Kubernetes container. A cpu or memory
    request may not be above its limit."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_request_within_limit(r) for r in LIMITED_RESOURCES]
        }
    )

    requests: Annotated[
        dict[str, Quantity] | None,
        Field(
            description="What the scheduler reserves for each serving container, by resource name."
        ),
    ] = None
    limits: Annotated[
        dict[str, Quantity] | None,
        Field(
            description="The most each serving container may use, by resource name. Above "
            "its memory limit a container is killed (OOMKilled), which during a rollout rolls "
            "the new revision back with cause Crashed."
        ),
    ] = None

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
    """An object in the ModelDeployment's namespace, by name."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_SUBDOMAIN_PATTERN,
            max_length=253,
            description="The object's name, in the ModelDeployment's namespace.",
        ),
    ]


class KeySelector(ApiModel):
    """One key of a Secret or ConfigMap in the ModelDeployment's namespace."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_SUBDOMAIN_PATTERN,
            max_length=253,
            description="The Secret's or ConfigMap's name.",
        ),
    ]
    key: Annotated[
        str, Field(pattern=CONFIG_KEY_PATTERN, max_length=253, description="The key in it.")
    ]
    optional: Annotated[
        bool | None,
        Field(
            description="For env only: true lets the pods start while the Secret, ConfigMap "
            "or key is missing (the variable is then unset), as in Kubernetes; default false. "
            "smokeTest.requestsFrom and a webhook's urlFrom ignore it: a missing key fails the "
            "smoke test, or the notification."
        ),
    ] = None


class EnvVarSource(ApiModel):
    """Where a variable's value comes from: exactly one of secretKeyRef, configMapKeyRef."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [_exactly_one("secretKeyRef", "configMapKeyRef")]
        }
    )

    secret_key_ref: Annotated[
        KeySelector | None,
        Field(description="A key of a Secret in the ModelDeployment's namespace."),
    ] = None
    config_map_key_ref: Annotated[
        KeySelector | None,
        Field(description="A key of a ConfigMap in the ModelDeployment's namespace."),
    ] = None

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

    name: Annotated[
        str,
        Field(
            pattern=ENV_NAME_PATTERN,
            max_length=256,
            description="The variable's name, unique in env. Names starting with MODEL_ are "
            "the operator's (it sets MODEL_NAME, MODEL_URI and the like from spec.model), and "
            "it sets SERVING_PORT from serving.port; other SERVING_* variables tune the "
            "serving image, e.g. SERVING_MAX_REQUESTS_PER_CONNECTION.",
        ),
    ]
    value: Annotated[
        str,
        Field(
            max_length=32768,
            description="The value; empty by default. Not with valueFrom.",
        ),
    ] = ""
    value_from: Annotated[
        EnvVarSource | None,
        Field(
            description="Read the value from a Secret or ConfigMap key instead, so that "
            "credentials never go into the ModelDeployment."
        ),
    ] = None

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

    prefix: Annotated[
        str | None,
        Field(
            pattern=ENV_NAME_PATTERN,
            max_length=128,
            description="Put before every key's name; it may not start with MODEL_, the "
            "operator's own variables.",
        ),
    ] = None
    secret_ref: Annotated[
        LocalObjectReference | None,
        Field(description="A Secret whose every key becomes a variable."),
    ] = None
    config_map_ref: Annotated[
        LocalObjectReference | None,
        Field(description="A ConfigMap whose every key becomes a variable."),
    ] = None

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


def _volume_source(kind: str, example: str) -> Any:
    """The description of one opaque volume source field."""
    return Field(
        description=f"The volume's source of kind {kind}, as in a Kubernetes pod (e.g. "
        f"{example}); passed to the pods as written and validated by the API server when the "
        "operator applies the Deployment (a refusal shows as a Warning Event ApplyFailed)."
    )


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
    """A pod volume of a kind the restricted Pod Security Standard allows (no hostPath):
    exactly one source, mounted with serving.volumeMounts."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one(*VOLUME_SOURCES)]}
    )

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL_PATTERN,
            description="The volume's name, which volumeMounts refer to: unique, and not tmp "
            "(the operator's own writable /tmp).",
        ),
    ]
    config_map: Annotated[OpaqueObject | None, _volume_source("configMap", "{name: settings}")] = (
        None
    )
    secret: Annotated[OpaqueObject | None, _volume_source("secret", "{secretName: creds}")] = None
    empty_dir: Annotated[OpaqueObject | None, _volume_source("emptyDir", "{sizeLimit: 1Gi}")] = None
    persistent_volume_claim: Annotated[
        OpaqueObject | None,
        _volume_source("persistentVolumeClaim", "{claimName: models, readOnly: true}"),
    ] = None
    projected: Annotated[OpaqueObject | None, _volume_source("projected", "{sources: [...]}")] = (
        None
    )
    csi: Annotated[
        OpaqueObject | None, _volume_source("csi", "{driver: ..., volumeAttributes: {...}}")
    ] = None
    ephemeral: Annotated[
        OpaqueObject | None, _volume_source("ephemeral", "{volumeClaimTemplate: {...}}")
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        fields = tuple(to_snake(f) for f in VOLUME_SOURCES)
        if _count_set(self, fields) != 1:
            raise ValueError(f"volume {self.name}: exactly one of {', '.join(VOLUME_SOURCES)}")
        return self


class VolumeMount(ApiModel):
    """A volume of serving.volumes, mounted in the serving container."""

    name: Annotated[
        str,
        Field(pattern=DNS_LABEL_PATTERN, description="The volume: a name in serving.volumes."),
    ]
    mount_path: Annotated[
        str,
        Field(
            pattern=r"^/.*$",
            max_length=1024,
            description="Where in the container, an absolute path; not /tmp, which the "
            "operator mounts itself.",
        ),
    ]
    read_only: Annotated[bool | None, Field(description="Mount it read-only; default false.")] = (
        None
    )
    sub_path: Annotated[
        str | None,
        Field(
            pattern=r"^[^/].*$",
            max_length=1024,
            description="A relative path in the volume to mount instead of its root.",
        ),
    ] = None


class Toleration(ApiModel):
    """A Kubernetes toleration: lets the serving pods onto nodes with a matching taint."""

    key: Annotated[
        str | None,
        Field(
            max_length=316,
            description="The taint key to match; empty with operator Exists matches every taint.",
        ),
    ] = None
    operator: Annotated[
        Literal["Exists", "Equal"] | None,
        Field(
            description="Exists (any value) or Equal (the value must match); Kubernetes' "
            "default is Equal."
        ),
    ] = None
    value: Annotated[
        str | None, Field(max_length=63, description="The taint value, for operator Equal.")
    ] = None
    effect: Annotated[
        Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None,
        Field(description="The taint effect to match; empty matches every effect."),
    ] = None
    toleration_seconds: Annotated[
        int | None,
        Field(
            description="For effect NoExecute: how long, in seconds, a pod stays on a node "
            "once the taint is there; unset, for ever."
        ),
    ] = None


class TopologySpread(ApiModel):
    """Spreads each revision's pods; the operator selects them, so no labelSelector here."""

    max_skew: Annotated[
        int,
        Field(
            ge=1,
            description="The most the count of a revision's pods may differ between two domains.",
        ),
    ]
    topology_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=316,
            description="The node label whose values are the domains, e.g. "
            "topology.kubernetes.io/zone or kubernetes.io/hostname.",
        ),
    ]
    when_unsatisfiable: Annotated[
        Literal["DoNotSchedule", "ScheduleAnyway"],
        Field(
            description="DoNotSchedule leaves a pod Pending rather than exceed maxSkew; "
            "ScheduleAnyway only prefers the nodes that keep it."
        ),
    ]
    min_domains: Annotated[
        int | None,
        Field(
            ge=1,
            description="With DoNotSchedule: the fewest domains the skew is counted over, "
            "empty ones included.",
        ),
    ] = None


_QUALIFIED_KEYS = {
    "rule": f"self.all(k, k.matches('{QUALIFIED_NAME_PATTERN}'))",
    "message": "keys must be qualified names (an optional DNS prefix and /, then a name of up "
    "to 63 characters)",
}
StringMap = Annotated[
    dict[
        str,
        Annotated[
            str,
            Field(
                max_length=63,
                pattern=LABEL_VALUE_OR_EMPTY_PATTERN,
                description="A label value: up to 63 letters, digits, -, _ and ., beginning "
                "and ending with a letter or digit; or empty.",
            ),
        ],
    ],
    Field(
        max_length=64,
        json_schema_extra={"x-kubernetes-validations": [_QUALIFIED_KEYS]},
    ),
]
AnnotationMap = Annotated[
    dict[str, Annotated[str, Field(max_length=65536, description="An annotation value.")]],
    Field(
        max_length=64,
        json_schema_extra={"x-kubernetes-validations": [_QUALIFIED_KEYS]},
    ),
]


class DisruptionBudget(ApiModel):
    """How many of a revision's pods voluntary disruptions (a node drain) may take at once:
    each revision's Deployment gets a PodDisruptionBudget of its own, maxUnavailable 1 when
    this is not set."""

    max_unavailable: Annotated[
        int | str,
        Field(
            description="Pods of one revision that voluntary disruptions may take down at "
            "once: a count, or a percentage of its pods such as 25%. Default 1.",
            json_schema_extra={
                "x-kubernetes-int-or-string": True,
                "pattern": r"^[0-9]+%$",
                "minimum": 0,
            },
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
    """How the model is served: the serving pods' image, port, resources, environment and
    placement, each field with a default of its own. Every field is part of the revision:
    changing any of them starts a rollout."""

    image: Annotated[
        str,
        Field(
            min_length=1,
            max_length=512,
            description="The serving container's image; default: the operator's, "
            f"{DEFAULT_SERVING_IMAGE} unless it was installed with another "
            "(the chart's defaultServingImage). "
            "Another image must serve the Open Inference Protocol v2 on port, answer "
            "/v2/health/ready and /v2/health/live, load the model the MODEL_* variables name, "
            "and export the modeldeploy_serving_* metrics the built-in checks read. A "
            "ClusterRolloutPolicy may restrict it (rules.allowedImages).",
        ),
    ] = DEFAULT_SERVING_IMAGE
    port: Annotated[
        int,
        Field(
            ge=1,
            le=65535,
            description="The port the serving container listens on (it is told with "
            "SERVING_PORT) for inference, probes and the /metrics Prometheus scrapes. The "
            "Services listen on port 80 and forward to it. Default 8080.",
        ),
    ] = 8080
    resources: Annotated[
        ResourceRequirements,
        Field(
            description="The serving container's requests and limits. Default: requests cpu "
            "100m and memory 256Mi, limits memory 1Gi. When set it replaces the default "
            "whole: a limit not given here is no limit."
        ),
    ] = _DEFAULT_RESOURCES
    env: Annotated[
        list[EnvVar],
        Field(
            max_length=128,
            description="Environment variables of the serving container, after the "
            "operator's own; names unique, none starting with MODEL_.",
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
    startup_timeout: Annotated[
        Duration,
        Field(
            description="How long a serving container may take to load its model and pass a "
            "warm-up inference before the kubelet restarts it (its startup probe); during a "
            "rollout that restart rolls the new revision back with cause Crashed. It also "
            "sets each Deployment's progressDeadlineSeconds (twice this, at least 10m) and, "
            "without a rollout section, how long the stable may lack Ready replicas before "
            "phase Degraded (as long). Default 5m."
        ),
    ] = "5m"
    env_from: Annotated[
        list[EnvFromSource] | None,
        Field(
            max_length=16,
            description="Secrets and ConfigMaps whose every key becomes a variable of the "
            "serving container.",
        ),
    ] = None
    service_account_name: Annotated[
        str | None,
        Field(
            pattern=DNS_SUBDOMAIN_PATTERN,
            max_length=253,
            description="The ServiceAccount the serving pods run as; its token is mounted "
            "only when this is set (IRSA, workload identity to a model store). Unset, the "
            "namespace's default account, without a token.",
        ),
    ] = None
    volumes: Annotated[
        list[Volume] | None,
        Field(
            max_length=32,
            description="Volumes of the serving pods, mounted with volumeMounts: configMap, "
            "secret, emptyDir, persistentVolumeClaim, projected, csi or ephemeral (no "
            "hostPath). Names unique; tmp is the operator's.",
        ),
    ] = None
    volume_mounts: Annotated[
        list[VolumeMount] | None,
        Field(
            max_length=32,
            description="Where volumes are mounted in the serving container.",
        ),
    ] = None
    node_selector: Annotated[
        StringMap | None,
        Field(description="Labels a node must have, with these values, to run serving pods."),
    ] = None
    tolerations: Annotated[
        list[Toleration] | None,
        Field(max_length=32, description="Taints the serving pods tolerate."),
    ] = None
    affinity: Annotated[
        OpaqueObject | None,
        Field(
            description="A Kubernetes affinity (nodeAffinity, podAffinity, podAntiAffinity) "
            "for the serving pods, passed to them as written and validated by the API server "
            "when the operator applies the Deployment (a refusal shows as a Warning Event "
            "ApplyFailed)."
        ),
    ] = None
    topology_spread_constraints: Annotated[
        list[TopologySpread] | None,
        Field(
            max_length=8,
            description="How each revision's pods spread over zones or nodes; the operator "
            "adds the selector of the revision's pods.",
        ),
    ] = None
    image_pull_secrets: Annotated[
        list[LocalObjectReference] | None,
        Field(
            max_length=16,
            description="Secrets in the namespace to pull the serving image with.",
        ),
    ] = None
    pod_labels: Annotated[
        StringMap | None,
        Field(
            description="More labels of the serving pods; keys under modeldeploy.io/ and "
            "app.kubernetes.io/ are the operator's."
        ),
    ] = None
    pod_annotations: Annotated[
        AnnotationMap | None,
        Field(
            description="More annotations of the serving pods; the operator's "
            "prometheus.io/scrape, prometheus.io/port and prometheus.io/path win over the "
            "same keys here."
        ),
    ] = None
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
    """One step of a canary: the weight the canary gets, and what must happen before the
    next step."""

    weight: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="Percent of client traffic to the canary at this step. With the "
            "replicas router the canary gets its share of Ready pods instead, coarser with "
            "few replicas (status.effectiveWeight). A last step of 100 gives the canary all "
            "traffic before its promotion.",
        ),
    ]
    pause: Annotated[
        Duration | None,
        Field(
            description="The least time the ramp stays at this step once its weight was "
            "reached, however soon the checks pass: it moves on at the first passing check "
            "run after both this and one interval. Unset, one interval."
        ),
    ] = None
    approval: Annotated[
        Literal["required"] | None,
        Field(
            description="required: once reached, the ramp holds at this step (phase "
            "AwaitingApproval) until `kubectl modeldeploy promote` moves it on; checks keep "
            "running and a breach still rolls back."
        ),
    ] = None


class HTTPRouteRef(ApiModel):
    """An HTTPRoute in the ModelDeployment's namespace."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL_PATTERN,
            description="The HTTPRoute's name. You create it, attached to your Gateway, with "
            "a rule whose backendRefs name the Service <name>-stable or <name>-canary; the "
            "operator sets that rule's backendRefs to exactly these two (port 80), weighted "
            "by the canary's weight, and leaves other rules alone.",
        ),
    ]


class RouterKind(StrEnum):
    REPLICAS = "replicas"
    GATEWAY_API = "gateway-api"


class TrafficSpec(ApiModel):
    """How the canary's weight becomes client traffic."""

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

    router: Annotated[
        RouterKind,
        Field(
            description="replicas (default): no mesh or gateway; during a ramp the client "
            "Service <name> sends to both revisions' pods, and the weight becomes the canary's "
            "share of Ready pods, spec.replicas in all (with 4, 5% is 1 pod of 4: 25%; a step "
            "more than 5 points off is warned of at apply, in a WeightApproximated Event and "
            "in status.message). A Service balances connections, not requests. gateway-api: "
            "exact weights on the backendRefs of your HTTPRoute (httpRoute); both revisions "
            "run spec.replicas pods during the ramp."
        ),
    ] = RouterKind.REPLICAS
    http_route: HTTPRouteRef | None = Field(
        default=None,
        alias="httpRoute",
        description="The HTTPRoute whose weights the gateway-api router sets; required with "
        "it, unused by replicas.",
    )

    @model_validator(mode="after")
    def _gateway_needs_route(self) -> TrafficSpec:
        if self.router is RouterKind.GATEWAY_API and self.http_route is None:
            raise ValueError("router gateway-api needs httpRoute")
        return self


class CheckSpec(ApiModel):
    """A Prometheus check: a built-in by name, or custom PromQL in `query`. Measured every
    interval over the last interval (at least the operator's minimum check window), and
    judged against every bound it sets: it fails when one is breached."""

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

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL_PATTERN,
            max_length=63,
            description="The check's name in status.checks and Events, unique in the rollout's "
            "checks. Without query it runs "
            "the built-in of that name, on the serving pods' metrics: error-rate (share of "
            "infer requests answered 5xx), latency-p95 and latency-p99 (seconds), "
            "prediction-drift (difference of the mean prediction from the stable's, as a share "
            "of the larger of the two: 0 to 1 for means of one sign; worst output), "
            "prediction-psi (population stability index of the predictions "
            "against the stable's, worst output), request-count (infer requests in the "
            "window), shadow-agreement, shadow-error-rate and shadow-mean-abs-diff (see "
            "shadow).",
        ),
    ]
    query: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=8192,
            description="Custom PromQL giving one number: a scalar or a single series "
            "(aggregate with sum() or max()); no result, NaN or an infinity is inconclusive, "
            "several series an error. Templates: {{namespace}}, {{name}}, {{model}}, "
            "{{version}}, {{revision}}, {{canary_revision}}, {{stable_revision}} inside label "
            "values (escaped), and {{interval}}, the window, in a range selector.",
        ),
    ] = None
    max: Annotated[float | None, Field(description="The value must not be above this.")] = None
    min: Annotated[
        float | None,
        Field(description="The value must not be below this; at most max."),
    ] = None
    max_increase: Annotated[
        float | None,
        Field(
            ge=0,
            description="The largest rise of the canary's value over the stable's, as a "
            "fraction of the stable's (0.1 = 10%). The query runs a second time with "
            "{{revision}} set to the stable's revision, so a custom query must select by it. "
            "A stable value of 0 passes only a canary at 0. Not for the built-ins that "
            "already compare with the stable.",
        ),
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
JsonValue = Annotated[
    Any,
    Field(
        description="An element (number, string, boolean), or a list of them for a dimension.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    ),
]


class SmokeInput(ApiModel):
    """One input tensor of a smoke request, as an Open Inference Protocol infer body names it."""

    name: Annotated[
        str,
        Field(min_length=1, max_length=128, description="The input's name, as the model has it."),
    ]
    shape: Annotated[
        list[Annotated[int, Field(ge=0, description="A dimension's size.")]],
        Field(
            min_length=1,
            max_length=8,
            description="The tensor's dimensions, the first being the batch (rows).",
        ),
    ]
    datatype: Annotated[
        TensorDatatype, Field(description="The tensor's datatype, as the model has it.")
    ]
    data: Annotated[
        list[JsonValue],
        Field(
            min_length=1,
            max_length=4096,
            description="The elements, nested by dimension or flat in row-major order.",
        ),
    ]


class SmokeExpectation(ApiModel):
    """What one output must hold: numbers (within `tolerance`) or labels, element by element."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one("values", "labels")]}
    )

    output: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=128,
            description="The output to compare, by name; unset, the first the answer holds.",
        ),
    ] = None
    values: Annotated[
        list[Annotated[float, Field(description="An expected number.")]] | None,
        Field(
            min_length=1,
            max_length=4096,
            description="The numbers the output must hold, in row-major order and as many as "
            "it has, each within tolerance. Not with labels.",
        ),
    ] = None
    labels: Annotated[
        list[Annotated[str, Field(max_length=256, description="An expected label.")]] | None,
        Field(
            min_length=1,
            max_length=4096,
            description="The labels the output must hold, in row-major order and as many as "
            "it has: a string as written, a number equal to the label read as a number, a "
            "boolean as true or false. Not with values.",
        ),
    ] = None
    tolerance: Annotated[
        float,
        Field(
            ge=0,
            description="The largest absolute difference allowed between a value and its "
            "expected number; 0 (default) is exact. For values only.",
        ),
    ] = 0.0

    @model_validator(mode="after")
    def _one_kind(self) -> SmokeExpectation:
        if _count_set(self, ("values", "labels")) != 1:
            raise ValueError("smoke expectation: exactly one of values, labels must be set")
        return self


class SmokeRequest(ApiModel):
    """One golden request: an Open Inference Protocol infer request, and what its answer must
    hold."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL_PATTERN,
            description="The request's name, in status (preflight.failures) and Events.",
        ),
    ]
    inputs: Annotated[
        list[SmokeInput],
        Field(min_length=1, max_length=16, description="The request's input tensors."),
    ]
    expect: SmokeExpectation


class SmokeRequestsSource(ApiModel):
    """Smoke requests kept outside the ModelDeployment."""

    config_map_key_ref: KeySelector = Field(
        description="A ConfigMap key holding a YAML or JSON list of smoke requests (each with "
        "name, inputs and expect), read at every preflight; a missing ConfigMap or key fails "
        "the smoke test."
    )


class SmokeTestSpec(ApiModel):
    """Golden requests sent to the new revision's pods once they are Ready, before any client
    traffic reaches it: each to one Ready pod in turn, directly, not through a Service. A first
    deploy passes it before it becomes stable; one that fails it is scaled to zero."""

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

    requests: Annotated[
        list[SmokeRequest] | None,
        Field(
            min_length=1,
            max_length=64,
            description="Golden requests written here; with requestsFrom, both are sent.",
        ),
    ] = None
    requests_from: Annotated[
        SmokeRequestsSource | None,
        Field(description="Golden requests read from a ConfigMap key."),
    ] = None
    pass_ratio: Annotated[
        float,
        Field(
            gt=0,
            le=1,
            description="The share of requests that must pass (passRatio times their count, "
            "rounded up); 1 (default) is all. Fewer roll the new revision back with cause "
            "SmokeTestFailed.",
        ),
    ] = 1.0
    timeout: Annotated[
        Duration,
        Field(
            description="How long each request may take, more than 0s; default 5s.",
            json_schema_extra=_positive(ZERO_SMOKE_TIMEOUT),
        ),
    ] = "5s"

    @model_validator(mode="after")
    def _has_requests(self) -> SmokeTestSpec:
        if self.requests is None and self.requests_from is None:
            raise ValueError("smokeTest: needs requests or requestsFrom")
        return self


class ShadowSpec(ApiModel):
    """Before any weight, the stable's own pods copy a sample of live requests to the new
    revision and compare its answers with theirs; the new revision's answers reach no one.
    The shadow's own checks (shadow-error-rate, and shadow-agreement or shadow-mean-abs-diff
    from its bounds) run every interval beside the rollout's; with blue/green the copies go to
    the preview."""

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
        float,
        Field(
            gt=0,
            le=100,
            description="Percent of the stable's live requests copied to the new revision; "
            "default 10.",
        ),
    ] = 10.0
    duration: Annotated[
        Duration,
        Field(
            description="How long the copies go on before the first step's weight: the "
            "shadow ends at the first passing check run after this. A blue/green preview "
            "lasts at least this long. Default 2m."
        ),
    ] = "2m"
    min_agreement: Annotated[
        float | None,
        Field(
            ge=0,
            le=1,
            description="Adds the check shadow-agreement with this min: the least share of "
            "label outputs (classes, integers, strings) on which the new revision must answer "
            "as the stable does.",
        ),
    ] = None
    max_mean_abs_diff: Annotated[
        float | None,
        Field(
            ge=0,
            description="Adds the check shadow-mean-abs-diff with this max: the largest mean "
            "absolute difference of floating-point outputs (scores, probabilities, regression "
            "values) from the stable's.",
        ),
    ] = None
    max_error_rate: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="The max of the check shadow-error-rate, always run: the largest share "
            "of copies the new revision fails to answer with 200. Default 0.05.",
        ),
    ] = 0.05

    @model_validator(mode="after")
    def _has_bound(self) -> ShadowSpec:
        if self.min_agreement is None and self.max_mean_abs_diff is None:
            raise ValueError("shadow needs minAgreement or maxMeanAbsDiff")
        return self


class BlueGreenSpec(ApiModel):
    """Options of the blueGreen strategy."""

    preview_duration: Annotated[
        Duration,
        Field(
            description="How long the new revision, Ready at full size behind the preview "
            "Service <name>-canary and past its preflight, is checked before all traffic "
            "switches to it: the switch follows the first passing check run after this. "
            "Default 1m."
        ),
    ] = "1m"
    approval: Annotated[
        Literal["required"] | None,
        Field(
            description="required: after the preview passed, hold (phase AwaitingApproval) "
            "until `kubectl modeldeploy promote`. With or without it, a promote once the "
            "preview is Ready and past its preflight switches at once."
        ),
    ] = None


class RolloutSpec(ApiModel):
    """How a new revision reaches clients: the strategy, its steps, the checks that gate
    them, and what happens before the first client request and after the promotion."""

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
            description="canary (default): weighted steps, each gated by the checks; "
            "blueGreen: the new revision at full size behind the preview Service "
            "<name>-canary, then one switch of all traffic."
        ),
    ] = "canary"
    blue_green: Annotated[
        BlueGreenSpec | None,
        Field(description="Options of the blueGreen strategy; only with strategy blueGreen."),
    ] = None

    steps: Annotated[
        list[RolloutStep] | None,
        Field(
            min_length=1,
            max_length=32,
            description="The canary's steps, weights rising; the promotion follows the last. "
            "Not with stepWeights; with neither, the steps are 10 and 50. Blue/green does "
            "not use them.",
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
        list[
            Annotated[
                int,
                Field(
                    ge=1,
                    le=100,
                    description="A step's weight: percent of client traffic to the canary.",
                ),
            ]
        ]
        | None,
        Field(
            min_length=1,
            max_length=32,
            description="The short form of steps: their weights alone, rising. Not with steps.",
            json_schema_extra={
                "x-kubernetes-list-type": "set",
                "x-kubernetes-validations": [
                    {"rule": "self.isSorted()", "message": "stepWeights must rise"}
                ],
            },
        ),
    ] = None
    interval: Annotated[
        Duration,
        Field(
            description="How often the checks run: from the moment the first step's weight "
            "is reached (or a shadow or a blue/green preview begins) to the end of the "
            "rollout, between steps too. Also the window they look back over ({{interval}}, "
            "at least the operator's minimum check window, 1m by default), and the least "
            "time at a step: the ramp moves on only on a passing run at least an interval "
            "after the step's weight was reached. More than 0s; default 30s.",
            json_schema_extra=_positive(ZERO_INTERVAL),
        ),
    ] = "30s"
    failure_limit: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description="Failed check runs tolerated before the rollout rolls back with cause "
            "CheckFailed. A run fails when any check breaches a bound; failures add up over "
            "the whole rollout (a pass does not reset them), and a failed run never moves the "
            "ramp on. Default 0: the first failure rolls back.",
        ),
    ] = 0
    inconclusive_limit: Annotated[
        int,
        Field(
            ge=0,
            le=100,
            description="Inconclusive check runs (no data, too few requests, Prometheus "
            "unreachable or refusing the query) tolerated since the last passing run, which "
            "resets the count; one more rolls back with cause Inconclusive. It also bounds "
            "the preflight's tries while the new pods cannot be asked (then cause "
            "PreflightUnreachable). Default 3.",
        ),
    ] = 3
    min_requests: Annotated[
        int,
        Field(
            ge=0,
            description="Canary infer requests needed in a check's window; with fewer, every "
            "check of the run is inconclusive, never a pass. Default 0: no minimum.",
        ),
    ] = 0
    progress_deadline: Annotated[
        Duration,
        Field(
            description="How long after a step begins (or the blue/green preview is asked "
            "for) the new revision may take to have the Ready pods it needs; from then on, "
            "fewer roll it back with cause ProgressDeadlineExceeded. Also how long the stable "
            "may lack Ready replicas before phase Degraded. More than 0s; default 10m.",
            json_schema_extra=_positive(ZERO_PROGRESS_DEADLINE),
        ),
    ] = "10m"
    scale_down_delay: Annotated[
        Duration,
        Field(
            description="After a promotion, how long the old stable keeps its pods: it "
            "serves until the new stable is at full strength, and an undo needs no new pods. "
            "Then it is scaled to zero. Default 30s."
        ),
    ] = "30s"
    rollback_window: Annotated[
        Duration,
        Field(
            description="After a promotion, how long `kubectl modeldeploy undo` can bring "
            "the old stable back (its pods Ready first when at zero, then the traffic); its "
            "Deployment is deleted when the window ends. Default 10m."
        ),
    ] = "10m"
    traffic: Annotated[
        TrafficSpec,
        Field(description="How the weight becomes traffic; default router replicas."),
    ] = TrafficSpec()
    checks: Annotated[
        list[CheckSpec],
        Field(
            max_length=32,
            description="The checks that gate the rollout, all run every interval: a run "
            "fails if any check fails, else is inconclusive if any could not be judged, else "
            "passes. Names unique. With none, every step moves on by time alone (a Warning "
            "Event Unguarded says so).",
            json_schema_extra={
                "x-kubernetes-validations": [
                    {
                        "rule": "self.all(c, self.exists_one(d, d.name == c.name))",
                        "message": DUPLICATE_CHECK_NAMES,
                    }
                ]
            },
        ),
    ] = []
    smoke_test: SmokeTestSpec | None = None
    shadow: ShadowSpec | None = None
    schema_change: Annotated[
        Literal["Refuse", "Allow"],
        Field(
            description="Refuse (default): a new revision whose model inputs or outputs "
            "differ incompatibly from the stable's (an input removed, renamed, added or "
            "reshaped, a datatype changed, an output removed or reshaped) is rolled back "
            "before any traffic with cause IncompatibleSchema; Allow: the change is intended. "
            "A first deploy has nothing to compare with."
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


# The Events a notification is sent for, by reason, and the kind its message names.
NotifiedReason = Literal[
    "RolloutStarted",
    "StepAdvanced",
    "Paused",
    "AwaitingApproval",
    "Promoted",
    "RolledBack",
    "PolicyViolation",
]
NOTIFIED_EVENTS: dict[str, str] = {
    "RolloutStarted": "rollout-started",
    "StepAdvanced": "step-passed",
    "Paused": "paused",
    "AwaitingApproval": "awaiting-approval",
    "Promoted": "promoted",
    "RolledBack": "rolled-back",
    "PolicyViolation": "policy-violation",
}


class SecretKeySource(ApiModel):
    """A value held in a Secret."""

    secret_key_ref: Annotated[
        KeySelector,
        Field(
            description="The Secret key holding the URL, read at each notification: in the "
            "ModelDeployment's namespace, or, for a ClusterRolloutPolicy, the operator's."
        ),
    ]


class WebhookTarget(ApiModel):
    """Where a notification is POSTed: exactly one of url, urlFrom."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [_exactly_one("url", "urlFrom")]}
    )

    url: Annotated[
        str | None,
        Field(
            pattern=r"^https?://.+$",
            max_length=2048,
            description="The http(s) URL. Loopback, link-local and unspecified hosts are "
            "refused; private and in-cluster ones (RFC 1918, the Service CIDR, *.svc, "
            "*.cluster.local) unless the operator allows them. Redirects are not followed.",
        ),
    ] = None
    url_from: Annotated[
        SecretKeySource | None,
        Field(description="A Secret key holding the URL, for a URL that carries a token."),
    ] = None
    format: Annotated[
        Literal["generic", "slack", "teams"],
        Field(
            description="generic (default): a JSON document (kind, reason, message, "
            "namespace, name, revision, version, phase, weight, stable version, policy, "
            "failing checks); slack: a Slack-compatible {text} message; teams: a message "
            "holding an Adaptive Card 1.4, as the incoming webhooks and workflows of "
            "Microsoft Teams take it."
        ),
    ] = "generic"

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTarget:
        if _count_set(self, ("url", "url_from")) != 1:
            raise ValueError("exactly one of url, urlFrom must be set")
        return self


class Notification(ApiModel):
    """A webhook told of rollouts: started, step passed, paused, awaiting approval, promoted,
    rolled back (with the failing checks), policy violation. Sent off the rollout's path (5 s
    timeout, 3 tries): a failing receiver never slows a rollout."""

    name: Annotated[
        str, Field(pattern=DNS_LABEL_PATTERN, description="Its name, in the operator's logs.")
    ]
    webhook: WebhookTarget
    events: Annotated[
        list[Annotated[NotifiedReason, Field(description="An Event's reason, e.g. RolledBack.")]]
        | None,
        Field(
            min_length=1,
            max_length=len(NOTIFIED_EVENTS),
            description="The Events this webhook is told of, by reason: "
            + ", ".join(NOTIFIED_EVENTS)
            + ". Unset, every one of them.",
            json_schema_extra={"x-kubernetes-list-type": "set"},
        ),
    ] = None

    @model_validator(mode="after")
    def _events_once_each(self) -> Notification:
        listed = self.events or []
        if len(set(listed)) != len(listed):
            raise ValueError(f"notification {self.name}: each event is listed once")
        return self


# Rules on the autoscaling block, stated in CEL for the API server and checked again by the
# models, in the same words.
AUTOSCALING_MIN_ABOVE_MAX = "autoscaling.minReplicas must be at most autoscaling.maxReplicas"
AUTOSCALING_NO_TARGET = (
    "autoscaling.targets needs at least one of cpuUtilization, requestsPerSecond, "
    "requestsInFlight: the autoscaler has nothing to follow without one"
)
AUTOSCALING_CPU_WITHOUT_REQUEST = (
    "autoscaling.targets.cpuUtilization needs serving.resources.requests.cpu: utilization is "
    "a share of the request"
)
AUTOSCALING_TARGETS = ("cpuUtilization", "requestsPerSecond", "requestsInFlight")
# The per-pod custom metrics the autoscaler reads, as a prometheus-adapter exposes them from
# the serving image's own series (e2e/localcluster/metrics.py has the adapter's rules).
REQUESTS_PER_SECOND_METRIC = "modeldeploy_serving_requests_per_second"
REQUESTS_IN_FLIGHT_METRIC = "modeldeploy_serving_requests_in_flight"


class AutoscalingTargets(ApiModel):
    """What the autoscaler keeps each serving pod at, on average over every pod of every
    track; at least one. With several, the autoscaler follows whichever asks for the most
    pods."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": " || ".join(f"has(self.{t})" for t in AUTOSCALING_TARGETS),
                    "message": AUTOSCALING_NO_TARGET,
                }
            ]
        }
    )

    cpu_utilization: Annotated[
        int | None,
        Field(
            ge=1,
            le=1000,
            description="Average CPU use of the serving containers, in percent of their cpu "
            "request (serving.resources.requests.cpu, which must be set), as metrics-server "
            "reports it.",
        ),
    ] = None
    requests_per_second: Annotated[
        float | None,
        Field(
            ge=0.001,
            le=1_000_000,
            description="Inference requests each pod answers per second, on average: the "
            f"per-pod custom metric {REQUESTS_PER_SECOND_METRIC} (the rate of the serving "
            "image's modeldeploy_serving_requests_total for infer), served by a "
            "prometheus-adapter.",
        ),
    ] = None
    requests_in_flight: Annotated[
        float | None,
        Field(
            ge=0.001,
            le=1_000_000,
            description="Inference requests each pod is answering at once, on average: the "
            f"per-pod custom metric {REQUESTS_IN_FLIGHT_METRIC} (the serving image's gauge of "
            "that name), served by a prometheus-adapter.",
        ),
    ] = None

    @model_validator(mode="after")
    def _one_target_at_least(self) -> AutoscalingTargets:
        if _count_set(self, ("cpu_utilization", "requests_per_second", "requests_in_flight")) == 0:
            raise ValueError(AUTOSCALING_NO_TARGET)
        return self


class AutoscalingSpec(ApiModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) the operator renders and owns: it scales
    this ModelDeployment through its scale subresource, writing spec.replicas, and the
    operator sizes every track from that total, during rollouts too. Leave spec.replicas
    out of what you apply (git, for Argo CD and Flux): it is the autoscaler's."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "message": AUTOSCALING_MIN_ABOVE_MAX,
                }
            ]
        }
    )

    min_replicas: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="The fewest pods the autoscaler leaves; the operator never runs "
            "fewer, whatever spec.replicas says. Default 1.",
        ),
    ] = 1
    max_replicas: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="The most pods the autoscaler asks for (a ClusterRolloutPolicy's "
            "maxReplicas bounds it); the operator never runs more as the total.",
        ),
    ]
    targets: AutoscalingTargets

    @model_validator(mode="after")
    def _min_within_max(self) -> AutoscalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(AUTOSCALING_MIN_ABOVE_MAX)
        return self


_CPU_REQUESTED = (
    "!has(self.autoscaling) || !has(self.autoscaling.targets.cpuUtilization) || "
    "!has(self.serving) || !has(self.serving.resources) || "
    "(has(self.serving.resources.requests) && 'cpu' in self.serving.resources.requests)"
)


class ModelDeploymentSpec(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": _CPU_REQUESTED, "message": AUTOSCALING_CPU_WITHOUT_REQUEST}
            ]
        }
    )

    model: ModelSpec
    serving: ServingSpec = ServingSpec()
    replicas: Annotated[
        int,
        Field(
            ge=0,
            le=1000,
            description="Serving pods in all, the total the tracks share. Outside a rollout "
            "the stable runs them all. During a canary the router splits them: with replicas "
            "the canary runs its weight's share (at least one pod each); with gateway-api "
            "each track runs enough for the share of requests it takes (at least one). In "
            "blue/green the preview runs as many beside the stable. Not part of the "
            "revision: scaling starts no rollout. The scale subresource's spec.replicas "
            "(kubectl scale, a HorizontalPodAutoscaler, KEDA); with autoscaling the "
            "autoscaler writes it, and the operator keeps it within minReplicas and "
            "maxReplicas. Default 1.",
            json_schema_extra={"x-crd-default": 1},
        ),
    ] = 1
    autoscaling: Annotated[
        AutoscalingSpec | None,
        Field(
            description="Scale with the load instead of a fixed spec.replicas: the operator "
            "runs a HorizontalPodAutoscaler on this object. Unset, spec.replicas is the "
            "user's and the operator removes any autoscaler it made."
        ),
    ] = None
    rollout: Annotated[
        RolloutSpec | None,
        Field(
            description="How a new revision is rolled out. Without it (and without a "
            "ClusterRolloutPolicy's defaults.rollout), a new revision replaces the stable "
            "once all its replicas are Ready, with no checks."
        ),
    ] = None
    notifications: Annotated[
        list[Notification] | None,
        Field(
            max_length=8,
            description="Webhooks told of this object's rollouts; a urlFrom Secret lives in "
            "its namespace.",
        ),
    ] = None


def desired_replicas(model_spec: ModelDeploymentSpec) -> int:
    """The total the tracks share: spec.replicas, held within the autoscaling bounds when
    there are any (spec.replicas defaults to 1 until the autoscaler first writes it)."""
    scaling = model_spec.autoscaling
    if scaling is None:
        return model_spec.replicas
    return max(scaling.min_replicas, min(model_spec.replicas, scaling.max_replicas))


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
