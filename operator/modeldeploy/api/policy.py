"""The ClusterRolloutPolicy API: pydantic models that validate policies and generate the CRD."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

from modeldeploy.api.spec import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    Duration,
    Notification,
    RolloutSpec,
    StringMap,
)

POLICY_KIND = "ClusterRolloutPolicy"
POLICY_PLURAL = "clusterrolloutpolicies"
POLICY_SINGULAR = "clusterrolloutpolicy"
POLICY_SHORT_NAMES = ["crp"]


class LabelSelectorRequirement(ApiModel):
    """One requirement on a label: its key, an operator and values."""

    key: Annotated[str, Field(min_length=1, max_length=316, description="The label's key.")]
    operator: Annotated[
        Literal["In", "NotIn", "Exists", "DoesNotExist"],
        Field(
            description="In: the label has one of values. NotIn: it has none of them, or is "
            "absent. Exists, DoesNotExist: the label is there, or is not."
        ),
    ]
    values: Annotated[
        list[Annotated[str, Field(description="A label value.")]] | None,
        Field(max_length=64, description="For In and NotIn, which need them; no other."),
    ] = None

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        needs_values = self.operator in ("In", "NotIn")
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(ApiModel):
    """A standard Kubernetes label selector; empty selects every namespace."""

    match_labels: Annotated[
        StringMap | None,
        Field(description="Labels a namespace must have, with these values."),
    ] = None
    match_expressions: Annotated[
        list[LabelSelectorRequirement] | None,
        Field(max_length=32, description="Requirements a namespace's labels must all meet."),
    ] = None


def _all_optional(model: type[ApiModel], name: str, doc: str) -> type[ApiModel]:
    """`model` with every field optional and no default: defaults fill only what is set."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = FieldInfo.merge_field_infos(info, default=None)
        annotation: Any = info.annotation
        fields[field_name] = (annotation | None, optional)
    partial: type[ApiModel] = create_model(  # type: ignore[call-overload]
        name,
        __base__=ApiModel,
        __doc__=doc,
        **fields,
    )
    extra = model.model_config.get("json_schema_extra")
    if extra is not None:
        partial.model_config = ConfigDict(**{**partial.model_config, "json_schema_extra": extra})
        partial.model_rebuild(force=True)
    return partial


RolloutDefaults = _all_optional(
    RolloutSpec,
    "RolloutDefaults",
    "Rollout settings used where a ModelDeployment's own rollout says nothing.",
)


class PolicyDefaults(ApiModel):
    """Defaults under the ModelDeployments of the selected namespaces."""

    rollout: Annotated[
        RolloutDefaults | None,  # type: ignore[valid-type]
        Field(
            description="Rollout settings under each ModelDeployment's own: what it leaves "
            "out is taken from here, object by object; a list (steps, checks) is taken whole, "
            "and steps and stepWeights both give way when it sets either. A ModelDeployment "
            "without a rollout section runs this one. Changes apply to rollouts that start "
            "afterwards."
        ),
    ] = None

    @model_validator(mode="after")
    def _rollout_is_coherent(self) -> PolicyDefaults:
        # Each field was checked on its own; the rules between fields are RolloutSpec's.
        if self.rollout is not None:
            RolloutSpec.model_validate(self.rollout.model_dump(exclude_none=True))
        return self


# Entries of the allowed lists (policy.uris and policy.images read them).
Locations = (
    list[
        Annotated[
            str,
            Field(
                min_length=1, max_length=2048, description="A location, e.g. s3://models/team-a."
            ),
        ]
    ]
    | None
)
Images = (
    list[
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=512,
                description="An image location, e.g. registry.example.com/modeldeploy/.",
            ),
        ]
    ]
    | None
)


class Approvers(ApiModel):
    """Who may approve (promote) a rollout: a user named, or a member of a group named, as
    the API server authenticates them. The admission webhook checks each write of the
    promote annotation; keep its failurePolicy at Fail, or an author may approve while no
    replica answers."""

    groups: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256, description="A group.")]] | None,
        Field(max_length=32, description="Groups whose members may approve."),
    ] = None
    users: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256, description="A user name.")]]
        | None,
        Field(max_length=32, description="Users who may approve."),
    ] = None


class PolicyRules(ApiModel):
    """Guardrails every ModelDeployment in the selected namespaces must keep."""

    require_rollout: Annotated[
        bool,
        Field(
            description="A ModelDeployment must roll a new revision out (its own rollout "
            "section, or defaults.rollout), never replace it at once. Default false."
        ),
    ] = False
    require_sha256: Annotated[
        bool,
        Field(description="spec.model.sha256 must be set. Default false."),
    ] = False
    required_checks: Annotated[
        list[Annotated[str, Field(pattern=DNS_LABEL_PATTERN, description="A built-in's name.")]]
        | None,
        Field(
            max_length=32,
            description="Built-in checks every rollout must run, named without a query: a "
            "custom query under a built-in's name does not count, a shadow's own checks do; "
            "where the defaults bound one, a ModelDeployment may only tighten the bounds.",
        ),
    ] = None
    max_step_weight: Annotated[
        int | None,
        Field(
            ge=1,
            le=100,
            description="No step above this weight, except the promotion (a last step of 100 "
            "after smaller ones); a canary without steps is judged on its default steps, and "
            "blue/green, one switch of all traffic, is a step of 100. The rule judges the "
            "weight, not the replicas router's coarser share of pods.",
        ),
    ] = None
    min_interval: Annotated[
        Duration | None,
        Field(description="The shortest rollout.interval allowed, whatever the strategy."),
    ] = None
    allowed_model_uris: Annotated[
        Locations,
        Field(
            max_length=64,
            description="Where models may come from: s3://bucket[/path], file:///path, "
            "http(s)://host[:port][/path]. A model URI is allowed inside an entry of the same "
            "scheme and bucket or host, by whole path segments (s3://models-prod/team-a allows "
            "s3://models-prod/team-a/x, not s3://models-prod/team-ab/x); a file:// model comes "
            "from the image, with no volume of the spec's own at, above or inside the path",
        ),
    ] = None
    allowed_model_endpoints: Annotated[
        Locations,
        Field(
            max_length=64,
            description="Servers the model fetch may be sent to instead of the URI's own: an "
            "S3 endpoint override (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, S3_ENDPOINT_URL) or "
            "a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) in spec.serving.env must be written "
            "as a value inside one of these http(s) URLs. Under this rule or allowedModelUris "
            "a spec sets no other name that changes how the model is fetched",
        ),
    ] = None
    allowed_images: Annotated[
        Images,
        Field(
            max_length=64,
            description="Images the serving pods may run: registry/ (any repository in it), "
            "registry/path/ (any repository under path, by whole components), registry/repo "
            "(that repository), registry/repo:tag or @digest (that image); an image without a "
            "registry is on docker.io",
        ),
    ] = None
    max_replicas: Annotated[
        int | None,
        Field(
            ge=0,
            le=1000,
            description="The most spec.replicas a ModelDeployment may ask for, and the most "
            "its autoscaling.maxReplicas may let an autoscaler ask for.",
        ),
    ] = None
    approvers: Annotated[
        Approvers | None,
        Field(
            description="Only these may approve a rollout (the modeldeploy.io/promote "
            "annotation), and each approval must name its approver in "
            "modeldeploy.io/approved-by; unset, anyone who may patch the ModelDeployment may."
        ),
    ] = None


class ClusterRolloutPolicySpec(ApiModel):
    namespace_selector: Annotated[
        LabelSelector | None,
        Field(
            description="The namespaces whose ModelDeployments this policy governs, by their "
            "labels; absent or empty, every namespace. Where several policies select a "
            "namespace, priority decides."
        ),
    ] = None
    priority: Annotated[
        int,
        Field(
            ge=-1000,
            le=1000,
            description="Of the policies selecting a namespace, the one of highest priority "
            "alone applies; ties go to the first name in alphabetical order. Default 0.",
        ),
    ] = 0
    defaults: Annotated[
        PolicyDefaults | None,
        Field(description="What the ModelDeployments leave out of their rollout."),
    ] = None
    rules: Annotated[
        PolicyRules,
        Field(
            description="Rules the ModelDeployments must keep. The admission webhook refuses "
            "one that breaks them at apply; one already stored keeps serving what it serves, "
            "at its size, starts nothing new, and says why in its PolicyViolation condition."
        ),
    ] = PolicyRules()
    notifications: Annotated[
        list[Notification] | None,
        Field(
            max_length=16,
            description="Webhooks told of every rollout in the selected namespaces; a urlFrom "
            "Secret lives in the operator's namespace.",
        ),
    ] = None


class PolicyRef(ApiModel):
    """The policy, and its generation, that shaped a ModelDeployment's rollout."""

    name: Annotated[
        str, Field(pattern=DNS_SUBDOMAIN_PATTERN, description="The ClusterRolloutPolicy's name.")
    ]
    generation: Annotated[int, Field(description="Its metadata.generation.")]


class PolicySnapshot(ApiModel):
    """What a rollout in flight keeps of the policy it started under: a later change to the
    policy applies to the next rollout only. No name: it started under no policy."""

    name: Annotated[
        str | None,
        Field(
            pattern=DNS_SUBDOMAIN_PATTERN,
            description="The ClusterRolloutPolicy's name; absent when no policy applied.",
        ),
    ] = None
    generation: Annotated[int, Field(description="Its metadata.generation then.")] = 0
    defaults: Annotated[PolicyDefaults | None, Field(description="Its defaults then.")] = None
    rules: Annotated[PolicyRules, Field(description="Its rules then.")] = PolicyRules()


def parse_policy_spec(raw: dict[str, Any]) -> ClusterRolloutPolicySpec:
    """As the API server takes it: JSON types as they are."""
    return ClusterRolloutPolicySpec.model_validate_json(json.dumps(raw), strict=True)
