"""Generates the CRD YAML from the pydantic models (`make crds`).

Kubernetes wants a structural schema: every node typed, no $ref, nullable instead of an anyOf
with null, int-or-string marked as such, and no additionalProperties beside properties.

Every node carries the description of its field (or of its model's docstring), which is what
`kubectl explain` shows. The models' defaults stay out of the CRD: the API server would write
them into every stored object, and a ClusterRolloutPolicy's defaults fill only what the
object leaves out. The operator applies them instead; `refdoc` shows them. The one exception
is a field marked `x-crd-default`, spec.replicas: the scale subresource answers a GET with an
error where its specReplicasPath holds nothing, so kubectl scale and an autoscaler need it
stored.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from modeldeploy.api import policy, spec, status

JsonSchema = dict[str, Any]

# Keys of pydantic's JSON schema that have no place in a CRD's OpenAPI v3 schema.
_DROPPED_KEYS = {"title", "default", "$defs", "examples"}
_EXCLUSIVE_BOUNDS = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}
CRD_DEFAULT = "x-crd-default"


def structural_schema(schema: JsonSchema, *, with_defaults: bool = False) -> JsonSchema:
    """A Kubernetes structural schema for a pydantic model's JSON schema. `with_defaults`
    keeps the models' defaults, for documentation only: a CRD must not carry them."""
    definitions: JsonSchema = schema.get("$defs", {})
    dropped = _DROPPED_KEYS - {"default"} if with_defaults else _DROPPED_KEYS
    return _convert(schema, definitions, frozenset(dropped))


def _resolve(node: JsonSchema, definitions: JsonSchema) -> JsonSchema:
    if "$ref" not in node:
        return node
    target = definitions[node["$ref"].rsplit("/", 1)[-1]]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, definitions)


def _convert(node: JsonSchema, definitions: JsonSchema, dropped: frozenset[str]) -> JsonSchema:
    node = _resolve(node, definitions)
    if node.get("x-kubernetes-int-or-string"):
        return _int_or_string(node, dropped)
    if "anyOf" in node:
        return _convert_any_of(node, definitions, dropped)
    result: JsonSchema = {}
    for key, value in node.items():
        if key in dropped:
            continue
        if key == "properties":
            result[key] = {
                name: _convert(prop, definitions, dropped) for name, prop in value.items()
            }
        elif key == "items":
            result[key] = _convert(value, definitions, dropped)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                result[key] = _convert(value, definitions, dropped)
        elif key == "description":
            result[key] = _flowed(value)
        elif key == CRD_DEFAULT:
            result["default"] = value
        elif key == "const":
            # OpenAPI v3 has no const: a one-value enum says the same.
            result["enum"] = [value]
        elif key in _EXCLUSIVE_BOUNDS and not isinstance(value, bool):
            # JSON Schema 2020-12 gives the bound itself; OpenAPI v3 a flag beside it.
            result[_EXCLUSIVE_BOUNDS[key]] = value
            result[key] = True
        elif key == "enum" and "type" not in node:
            result["type"] = "string"
            result[key] = value
        else:
            result[key] = value
    if "properties" in result:
        result.setdefault("type", "object")
    return result


def _flowed(text: str) -> str:
    """A docstring's lines joined into one paragraph each, as `kubectl explain` flows them."""
    return "\n\n".join(" ".join(part.split()) for part in text.split("\n\n"))


def _convert_any_of(
    node: JsonSchema, definitions: JsonSchema, dropped: frozenset[str]
) -> JsonSchema:
    options = [_resolve(option, definitions) for option in node["anyOf"]]
    non_null = [option for option in options if option.get("type") != "null"]
    if len(non_null) != 1:
        raise ValueError(f"cannot express anyOf {node['anyOf']} in a structural schema")
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    merged = _convert({**non_null[0], **outer}, definitions, dropped)
    if len(non_null) != len(options):
        merged["nullable"] = True
    return merged


def _int_or_string(node: JsonSchema, dropped: frozenset[str]) -> JsonSchema:
    # The one anyOf a structural schema allows; a pattern beside it applies to strings only,
    # as in Kubernetes' own schemas for quantities, and a minimum to integers only.
    result: JsonSchema = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }
    if "description" in node:
        result["description"] = _flowed(node["description"])
    for key in ("default", "pattern", "minimum"):
        if key in node and key not in dropped:
            result[key] = node[key]
    return result


def _model_schema(model: type[BaseModel], with_defaults: bool) -> JsonSchema:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return structural_schema(schema, with_defaults=with_defaults)


PRINTER_COLUMNS: list[JsonSchema] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stable.version"},
    {"name": "Canary", "type": "string", "jsonPath": ".status.canary.version"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.weight"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    # Priority 1: shown by `kubectl get -o wide`, too long for the default view.
    {"name": "URL", "type": "string", "jsonPath": ".status.url", "priority": 1},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
]


def _crd(
    plural: str,
    kind: str,
    singular: str,
    short_names: list[str],
    scope: str,
    root: JsonSchema,
    printer_columns: list[JsonSchema],
    categories: list[str],
    status_subresource: bool,
    scale_subresource: JsonSchema | None = None,
) -> JsonSchema:
    version: JsonSchema = {"name": spec.VERSION, "served": True, "storage": True}
    if status_subresource:
        version["subresources"] = {"status": {}}
    if scale_subresource is not None:
        version.setdefault("subresources", {})["scale"] = scale_subresource
    version["additionalPrinterColumns"] = printer_columns
    version["schema"] = {"openAPIV3Schema": root}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{spec.GROUP}"},
        "spec": {
            "group": spec.GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": categories,
            },
            "versions": [version],
        },
    }


# The root fields as Kubernetes' own CRDs describe them.
_API_CONVENTIONS = (
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
)
API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    f"unrecognized values. More info: {_API_CONVENTIONS}#resources"
)
KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    f"CamelCase. More info: {_API_CONVENTIONS}#types-kinds"
)

MODEL_DEPLOYMENT_DESCRIPTION = (
    "ModelDeployment serves one ML model through the Open Inference Protocol v2 and rolls each "
    "new version of it out: in weighted canary steps or a blue/green switch, gated by "
    "Prometheus checks, a preflight (schema and smoke test) and optionally a shadow phase, "
    "rolled back by itself when a check breaches its bound. The operator never writes the "
    "spec; everything it decides is in status. Its name is at most "
    f"{spec.MAX_NAME_LENGTH} characters."
)
MODEL_DEPLOYMENT_SPEC_DESCRIPTION = (
    "Specification of the desired behavior of the ModelDeployment: the model, how it is "
    "served, and how a new revision of it (a change of model or serving) is rolled out. "
    f"More info: {_API_CONVENTIONS}#spec-and-status"
)
MODEL_DEPLOYMENT_STATUS_DESCRIPTION = (
    "Most recently observed status of the ModelDeployment: the revisions that serve, the "
    "rollout under way, check results and history. Written by the operator alone; this data "
    "may be out of date by some window of time. Read-only. More info: "
    f"{_API_CONVENTIONS}#spec-and-status"
)
POLICY_DESCRIPTION = (
    "ClusterRolloutPolicy gives the ModelDeployments of the namespaces it selects rollout "
    "defaults (under their own settings) and rules they must keep (refused at apply by the "
    "admission webhook, or held in status), and webhooks told of their rollouts. Of the "
    "policies selecting a namespace, the one of highest priority applies."
)
POLICY_SPEC_DESCRIPTION = (
    "Specification of the desired behavior of the ClusterRolloutPolicy: which namespaces it "
    "governs, the defaults it gives their rollouts and the rules they must keep. A change "
    f"applies to rollouts that start afterwards. More info: {_API_CONVENTIONS}#spec-and-status"
)


def _described(schema: JsonSchema, description: str) -> JsonSchema:
    """`schema` with `description` first, in place of any it had."""
    return {"description": description, **{k: v for k, v in schema.items() if k != "description"}}


def _root(
    description: str,
    spec_schema: JsonSchema,
    spec_description: str,
    status_schema: JsonSchema | None = None,
    status_description: str = "",
) -> JsonSchema:
    properties: JsonSchema = {
        "apiVersion": {"description": API_VERSION_DESCRIPTION, "type": "string"},
        "kind": {"description": KIND_DESCRIPTION, "type": "string"},
        # The API server refuses anything but the type here (kubectl explain shows ObjectMeta's
        # own documentation).
        "metadata": {"type": "object"},
        "spec": _described(spec_schema, spec_description),
    }
    if status_schema is not None:
        properties["status"] = _described(status_schema, status_description)
    return {
        "description": description,
        "type": "object",
        "required": ["spec"],
        "properties": properties,
    }


# What kubectl scale, a HorizontalPodAutoscaler or KEDA read and write, as on a Deployment:
# the total of serving pods asked for, the pods there are, and which pods they average over.
MODEL_DEPLOYMENT_SCALE: JsonSchema = {
    "specReplicasPath": ".spec.replicas",
    "statusReplicasPath": ".status.replicas",
    "labelSelectorPath": ".status.selector",
}


def model_deployment_crd(*, with_defaults: bool = False) -> JsonSchema:
    """The ModelDeployment CRD; `with_defaults` adds the operator's defaults to its schema,
    for documentation only (see the module's docstring)."""
    root = _root(
        MODEL_DEPLOYMENT_DESCRIPTION,
        _model_schema(spec.ModelDeploymentSpec, with_defaults),
        MODEL_DEPLOYMENT_SPEC_DESCRIPTION,
        _model_schema(status.ModelDeploymentStatus, with_defaults),
        MODEL_DEPLOYMENT_STATUS_DESCRIPTION,
    )
    root["x-kubernetes-validations"] = [
        {
            "rule": f"size(self.metadata.name) <= {spec.MAX_NAME_LENGTH}",
            "message": f"metadata.name must be at most {spec.MAX_NAME_LENGTH} characters",
        }
    ]
    return _crd(
        spec.PLURAL,
        spec.KIND,
        spec.SINGULAR,
        spec.SHORT_NAMES,
        "Namespaced",
        root,
        PRINTER_COLUMNS,
        ["all", "modeldeploy"],
        status_subresource=True,
        scale_subresource=MODEL_DEPLOYMENT_SCALE,
    )


POLICY_PRINTER_COLUMNS = [
    {"name": "Priority", "type": "integer", "jsonPath": ".spec.priority"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def cluster_rollout_policy_crd(*, with_defaults: bool = False) -> JsonSchema:
    """The ClusterRolloutPolicy CRD; `with_defaults` as for `model_deployment_crd`."""
    return _crd(
        policy.POLICY_PLURAL,
        policy.POLICY_KIND,
        policy.POLICY_SINGULAR,
        policy.POLICY_SHORT_NAMES,
        "Cluster",
        _root(
            POLICY_DESCRIPTION,
            _model_schema(policy.ClusterRolloutPolicySpec, with_defaults),
            POLICY_SPEC_DESCRIPTION,
        ),
        POLICY_PRINTER_COLUMNS,
        ["modeldeploy"],
        status_subresource=False,
    )


def all_crds() -> dict[str, JsonSchema]:
    """File name in crds/ → CRD object."""
    return {
        f"{spec.PLURAL}.{spec.GROUP}.yaml": model_deployment_crd(),
        f"{policy.POLICY_PLURAL}.{spec.GROUP}.yaml": cluster_rollout_policy_crd(),
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-schemas out in full: anchors would puzzle readers of the CRD."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml(crd: JsonSchema) -> str:
    header = "# Generated from the API's pydantic models by `make crds`. Do not edit.\n"
    return header + yaml.dump(crd, Dumper=_NoAliasDumper, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0] if args else "crds")
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, crd in all_crds().items():
        (out_dir / file_name).write_text(render_yaml(crd))
        print(f"wrote {out_dir / file_name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
