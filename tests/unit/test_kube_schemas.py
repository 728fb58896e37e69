"""The schemas kubeconform validates against, made from an OpenAPI spec and from CRDs."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from e2e import kube_schemas

GVK = "x-kubernetes-group-version-kind"
SWAGGER: dict[str, Any] = {
    "definitions": {
        "io.example.Widget": {
            GVK: [{"group": "widgets.example.io", "version": "v1", "kind": "Widget"}],
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "spec": {"$ref": "#/definitions/io.example.WidgetSpec"},
            },
        },
        "io.example.WidgetSpec": {
            "type": "object",
            "properties": {
                "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
                "size": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "tree": {"$ref": "#/definitions/io.example.Node"},
            },
        },
        "io.example.Node": {
            "type": "object",
            "properties": {
                "children": {"type": "array", "items": {"$ref": "#/definitions/io.example.Node"}}
            },
        },
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
            "type": "string",
            "format": "int-or-string",
        },
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    }
}


@pytest.mark.parametrize(
    ("kind", "api_version", "file"),
    [
        ("Service", "v1", "service-v1.json"),
        ("Deployment", "apps/v1", "deployment-apps-v1.json"),
        ("ClusterRole", "rbac.authorization.k8s.io/v1", "clusterrole-rbac-v1.json"),
        ("ModelDeployment", "modeldeploy.io/v1alpha1", "modeldeployment-modeldeploy-v1alpha1.json"),
    ],
)
def test_file_names_are_kubeconforms(kind: str, api_version: str, file: str) -> None:
    assert kube_schemas.schema_file(kind, api_version) == file


def widget_validator() -> jsonschema.Draft7Validator:
    [(file, schema)] = kube_schemas.kubernetes_schemas(SWAGGER).items()
    assert file == "widget-widgets-v1.json"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def widget(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "widgets.example.io/v1", "kind": "Widget", "spec": spec}


def test_a_valid_object_passes() -> None:
    deep = {"children": [{"children": [{"children": []}]}]}
    ok = widget(port=8080, size=1, labels={"a": "b"}, tree=deep)
    assert list(widget_validator().iter_errors(ok)) == []
    assert list(widget_validator().iter_errors(widget(port="http", size="1Gi"))) == []


@pytest.mark.parametrize(
    "bad",
    [
        widget(prot=8080),  # an unknown field
        widget(tree={"children": [{"childern": []}]}),  # one in a definition that nests itself
        widget(port=[8080]),
        widget(labels={"a": 1}),
        {**widget(), "kind": "Gadget"},
        {"apiVersion": "widgets.example.io/v1", "kind": "Widget"},  # spec is required
    ],
)
def test_what_kubernetes_would_refuse_is_refused(bad: dict[str, Any]) -> None:
    assert list(widget_validator().iter_errors(bad))


CRD: dict[str, Any] = {
    "spec": {
        "group": "example.io",
        "names": {"kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "ratio": {
                                        "type": "number",
                                        "minimum": 0,
                                        "exclusiveMinimum": True,
                                    },
                                    "free": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "note": {"type": "string", "nullable": True},
                                },
                            }
                        },
                    }
                },
            },
            {"name": "v0", "served": False, "schema": {"openAPIV3Schema": {}}},
        ],
    }
}


def test_a_crds_schema_is_strict_but_keeps_what_it_keeps() -> None:
    meta = {"type": "object", "properties": {"name": {"type": "string"}}}
    [(file, schema)] = kube_schemas.crd_schemas([CRD], meta).items()
    assert file == "gadget-example-v1.json"
    validator = jsonschema.Draft7Validator(schema)

    def errors(**spec: Any) -> list[Any]:
        gadget = {"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": "g"}}
        return list(validator.iter_errors({**gadget, "spec": spec}))

    assert errors(ratio=0.5, free={"anything": 1}, port="http", note=None) == []
    assert errors(port=80) == []
    assert errors(ratio=0)  # the bound is exclusive
    assert errors(unknown=1)
    assert errors(note=1)
