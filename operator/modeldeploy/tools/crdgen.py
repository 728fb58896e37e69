"""Generates the CRD YAML from the pydantic models (`make crds`).

Kubernetes wants a structural schema: every node typed, no $ref, nullable instead of an anyOf
with null, int-or-string marked as such, and no additionalProperties beside properties.
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


def structural_schema(schema: JsonSchema) -> JsonSchema:
    """A Kubernetes structural schema for a pydantic model's JSON schema."""
    definitions: JsonSchema = schema.get("$defs", {})
    return _convert(schema, definitions)


def _resolve(node: JsonSchema, definitions: JsonSchema) -> JsonSchema:
    if "$ref" not in node:
        return node
    target = definitions[node["$ref"].rsplit("/", 1)[-1]]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, definitions)


def _convert(node: JsonSchema, definitions: JsonSchema) -> JsonSchema:
    node = _resolve(node, definitions)
    if node.get("x-kubernetes-int-or-string"):
        return _int_or_string(node)
    if "anyOf" in node:
        return _convert_any_of(node, definitions)
    result: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            result[key] = {name: _convert(prop, definitions) for name, prop in value.items()}
        elif key == "items":
            result[key] = _convert(value, definitions)
        elif key == "additionalProperties":
            if isinstance(value, dict):
                result[key] = _convert(value, definitions)
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


def _convert_any_of(node: JsonSchema, definitions: JsonSchema) -> JsonSchema:
    options = [_resolve(option, definitions) for option in node["anyOf"]]
    non_null = [option for option in options if option.get("type") != "null"]
    if len(non_null) != 1:
        raise ValueError(f"cannot express anyOf {node['anyOf']} in a structural schema")
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    merged = _convert({**non_null[0], **outer}, definitions)
    if len(non_null) != len(options):
        merged["nullable"] = True
    return merged


def _int_or_string(node: JsonSchema) -> JsonSchema:
    # The one anyOf a structural schema allows; a pattern beside it applies to strings only,
    # as in Kubernetes' own schemas for quantities, and a minimum to integers only.
    result: JsonSchema = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }
    for key in ("pattern", "minimum"):
        if key in node:
            result[key] = node[key]
    return result


def _model_schema(model: type[BaseModel]) -> JsonSchema:
    return structural_schema(model.model_json_schema(by_alias=True, mode="validation"))


PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Stable", "type": "string", "jsonPath": ".status.stable.version"},
    {"name": "Canary", "type": "string", "jsonPath": ".status.canary.version"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.weight"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
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
) -> JsonSchema:
    version: JsonSchema = {"name": spec.VERSION, "served": True, "storage": True}
    if status_subresource:
        version["subresources"] = {"status": {}}
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


def _root(spec_schema: JsonSchema, status_schema: JsonSchema | None = None) -> JsonSchema:
    properties: JsonSchema = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    if status_schema is not None:
        properties["status"] = status_schema
    return {"type": "object", "required": ["spec"], "properties": properties}


def model_deployment_crd() -> JsonSchema:
    root = _root(
        _model_schema(spec.ModelDeploymentSpec), _model_schema(status.ModelDeploymentStatus)
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
    )


POLICY_PRINTER_COLUMNS = [
    {"name": "Priority", "type": "integer", "jsonPath": ".spec.priority"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def cluster_rollout_policy_crd() -> JsonSchema:
    return _crd(
        policy.POLICY_PLURAL,
        policy.POLICY_KIND,
        policy.POLICY_SINGULAR,
        policy.POLICY_SHORT_NAMES,
        "Cluster",
        _root(_model_schema(policy.ClusterRolloutPolicySpec)),
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
