"""JSON schemas of Kubernetes objects for kubeconform, made on this machine: the API's own from
the OpenAPI spec of the Kubernetes version the local cluster runs, and the project's CRDs'.

    python -m e2e.kube_schemas

kubeconform reads a schema per kind at `{kind}-{group}-{version}.json` (the group's first
label, none for the core group) under `v<version>-standalone-strict/`: standalone (every `$ref`
resolved in place, except a definition that contains itself, which the file carries under its
own `definitions`) and strict (an object's unknown fields refused). The spec comes from the
k8s.io/kubernetes module the cluster's binaries are built from (api/openapi-spec/swagger.json),
through the Go module proxy. The schemas are cached outside the clone keyed by the Kubernetes
version, and the CRDs' by their content. Prints, on its last line, the schema location
template for kubeconform's -schema-location.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

JsonSchema = dict[str, Any]

REPO = Path(__file__).resolve().parents[1]
BUILD_BINARIES = REPO / "e2e" / "cluster" / "build-binaries.sh"
CRD_DIR = REPO / "crds"
CACHE = Path(os.environ.get("MODELDEPLOY_CACHE", Path.home() / ".cache" / "modeldeploy"))
LOCATION = "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"  # noqa: E501
_REF_PREFIX = "#/definitions/"


def cluster_kubernetes_version() -> str:
    """The Kubernetes version the local cluster runs (build-binaries.sh's), without its v."""
    found = re.search(r'K8S_VERSION="\$\{K8S_VERSION:-v([0-9.]+)\}"', BUILD_BINARIES.read_text())
    if found is None:
        raise ValueError(f"no K8S_VERSION default in {BUILD_BINARIES}")
    return found[1]


K8S_VERSION = cluster_kubernetes_version()
# Keys of the OpenAPI spec that a JSON schema validator has no use for, or reads otherwise.
_DROPPED = {"description", "format", "x-kubernetes-group-version-kind"}


def schema_file(kind: str, api_version: str) -> str:
    """The file kubeconform looks for, as its KindSuffix names it."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


def _nullable(schema: JsonSchema) -> JsonSchema:
    """Kubernetes takes null for any field it may leave unset, as the field left out."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list) and "null" not in kind:
        return {**schema, "type": [*kind, "null"]}
    return schema


class _Resolver:
    """Turns an OpenAPI v2 definition into a standalone, strict JSON schema."""

    def __init__(self, definitions: Mapping[str, JsonSchema]) -> None:
        self.definitions = definitions
        self._expanding: list[str] = []
        self.recursive: dict[str, JsonSchema] = {}

    def definition(self, name: str) -> JsonSchema:
        if name in self._expanding:  # contains itself: carried once, under `definitions`
            self.recursive.setdefault(name, {})
            return {"$ref": _REF_PREFIX + name}
        self._expanding.append(name)
        try:
            resolved = self.node(self.definitions[name])
        finally:
            self._expanding.pop()
        if name in self.recursive and not self.recursive[name]:
            self.recursive[name] = resolved
            return {"$ref": _REF_PREFIX + name}
        return resolved

    def node(self, node: JsonSchema) -> JsonSchema:
        if "$ref" in node:
            return self.definition(node["$ref"].removeprefix(_REF_PREFIX))
        if node.get("format") == "int-or-string":
            return {"type": ["integer", "string", "null"]}
        result: JsonSchema = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-kubernetes-"):
                continue
            if key == "properties":
                result[key] = {name: self.node(child) for name, child in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                result[key] = self.node(value)
            else:
                result[key] = value
        if "properties" in result and "additionalProperties" not in result:
            result["additionalProperties"] = False
        return _nullable(result) if "type" in result else result


def _numbers_too(definitions: dict[str, JsonSchema]) -> None:
    """A quantity (`cpu: 1`) is written as a number as often as a string."""
    quantity = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    if quantity in definitions:
        definitions[quantity] = {"type": ["string", "number"]}


def _pinned(schema: JsonSchema, kind: str, api_version: str) -> JsonSchema:
    """A top-level schema that takes only its own kind and apiVersion."""
    properties = dict(schema.get("properties") or {})
    properties["kind"] = {"type": "string", "enum": [kind]}
    properties["apiVersion"] = {"type": "string", "enum": [api_version]}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        **schema,
        "properties": properties,
    }


def kubernetes_schemas(swagger: Mapping[str, Any]) -> dict[str, JsonSchema]:
    """Every kind's schema of an OpenAPI v2 spec, by file name."""
    definitions = dict(swagger["definitions"])
    _numbers_too(definitions)
    schemas: dict[str, JsonSchema] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            resolver = _Resolver(definitions)
            schema = resolver.definition(name)
            if resolver.recursive:
                schema = {**schema, "definitions": resolver.recursive}
            file = schema_file(kind, api_version)
            pinned = _pinned(schema, kind, api_version)
            # Kinds such as DeleteOptions appear in every group; those whose groups share a
            # first label share a file, and are the same.
            if schemas.get(file, pinned)["properties"] != pinned["properties"]:
                raise ValueError(f"{file}: two different kinds share this file")
            schemas[file] = pinned
    return schemas


def _strict_crd_node(node: JsonSchema) -> JsonSchema:
    """A CRD's structural schema as a JSON schema that refuses unknown fields, as the API
    server prunes them (unless the schema keeps them)."""
    result: JsonSchema = {}
    for key, value in node.items():
        if key in ("description", "format") or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            result[key] = {name: _strict_crd_node(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            result[key] = _strict_crd_node(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [_strict_crd_node(child) for child in value]
        elif key in ("nullable", "exclusiveMinimum", "exclusiveMaximum"):
            continue
        else:
            result[key] = value
    # OpenAPI 3.0 marks a bound exclusive with a flag; JSON schema names the exclusive bound.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(exclusive) is True and bound in result:
            result[exclusive] = result.pop(bound)
    if node.get("x-kubernetes-int-or-string"):
        result["type"] = ["integer", "string"]
    if (
        result.get("type") == "object"
        and "additionalProperties" not in result
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
        result.setdefault("properties", {})
    if node.get("nullable") and "type" in result:
        result = _nullable(result)
    return result


def crd_schemas(
    crds: Iterable[Mapping[str, Any]], object_meta: JsonSchema
) -> dict[str, JsonSchema]:
    """The schema of each served version of each CRD, by file name. Its metadata is
    ObjectMeta, as the API server reads it whatever the CRD says."""
    schemas: dict[str, JsonSchema] = {}
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            api_version = f"{group}/{version['name']}"
            schema = _strict_crd_node(version["schema"]["openAPIV3Schema"])
            properties = {**schema.get("properties", {}), "metadata": object_meta}
            schema = _pinned({**schema, "properties": properties}, kind, api_version)
            schemas[schema_file(kind, api_version)] = schema
    return schemas


def _write_atomically(directory: Path, schemas: Mapping[str, JsonSchema], version: str) -> None:
    """Writes every schema under `directory`, which appears whole or not at all."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
    try:
        target = work / f"v{version}-standalone-strict"
        target.mkdir()
        for file, schema in schemas.items():
            (target / file).write_text(json.dumps(schema, separators=(",", ":")))
        try:
            work.rename(directory)
        except OSError:  # another process got there first, with the same schemas
            if not directory.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _go_module_dir(module: str, version: str) -> Path:
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Path(json.loads(out)["Dir"])


def kubernetes_swagger(version: str = K8S_VERSION) -> dict[str, Any]:
    spec = (
        _go_module_dir("k8s.io/kubernetes", f"v{version}") / "api" / "openapi-spec" / "swagger.json"
    )
    return dict(json.loads(spec.read_text()))


def kubernetes_schema_dir(version: str = K8S_VERSION) -> Path:
    """The directory of the API's own schemas, made first where the cache lacks it."""
    directory = CACHE / f"kubernetes-json-schema-{version}"
    if not directory.is_dir():
        _write_atomically(directory, kubernetes_schemas(kubernetes_swagger(version)), version)
    return directory


def crd_schema_dir(crd_files: Iterable[Path] | None = None, version: str = K8S_VERSION) -> Path:
    """The directory of the CRDs' schemas (the project's by default), made first where the
    cache lacks it."""
    files = sorted(crd_files if crd_files is not None else CRD_DIR.glob("*.yaml"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    directory = CACHE / f"crd-json-schema-{version}-{digest.hexdigest()[:16]}"
    if not directory.is_dir():
        crds = [yaml.safe_load(file.read_text()) for file in files]
        meta_file = kubernetes_schema_dir(version) / f"v{version}-standalone-strict"
        meta = json.loads((meta_file / "deployment-apps-v1.json").read_text())
        schemas = crd_schemas(crds, meta["properties"]["metadata"])
        _write_atomically(directory, schemas, version)
    return directory


def schema_locations(version: str = K8S_VERSION) -> list[str]:
    """kubeconform's -schema-location values: the API's schemas, then the CRDs'."""
    return [f"{d}/{LOCATION}" for d in (kubernetes_schema_dir(version), crd_schema_dir())]


def main() -> None:
    for location in schema_locations():
        print(location)


if __name__ == "__main__":
    main()
