from pathlib import Path
from typing import Any

from modeldeploy.tools import crdgen

REPO = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{index}]"))
    return found


def test_committed_crds_match_the_models() -> None:
    for file_name, crd in crdgen.all_crds().items():
        committed = (REPO / "crds" / file_name).read_text()
        assert committed == crdgen.render_yaml(crd), f"crds/{file_name} is stale: run make crds"


def test_chart_carries_the_same_crds() -> None:
    for file_name, crd in crdgen.all_crds().items():
        chart_copy = REPO / "charts" / "modeldeploy" / "files" / "crds" / file_name
        assert chart_copy.read_text() == crdgen.render_yaml(crd), f"{chart_copy} is stale"


def test_schema_is_structural() -> None:
    schema = crdgen.model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node, path
        assert "$defs" not in node, path
        assert "title" not in node, path
        if "anyOf" in node and not path.endswith("anyOf"):
            assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf only for int-or-string"
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        assert "const" not in node or path.endswith(".properties"), (
            f"{path}: const is not OpenAPI v3"
        )
        for flag in ("exclusiveMinimum", "exclusiveMaximum"):
            # OpenAPI v3 has these as flags beside minimum and maximum, not as the bound.
            if flag in node and not path.endswith(".properties"):
                assert node[flag] is True, path
                assert ("minimum" if flag == "exclusiveMinimum" else "maximum") in node, path
        if "properties" in node and isinstance(node["properties"], dict) and "type" in node:
            assert node["type"] == "object", path
            assert "additionalProperties" not in node, path


def test_printer_columns() -> None:
    columns = crdgen.model_deployment_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    default = [c["name"] for c in columns if not c.get("priority")]
    assert default == ["Phase", "Stable", "Canary", "Weight", "Ready", "Age"]
    wide = {c["name"]: c["jsonPath"] for c in columns if c.get("priority") == 1}
    assert wide == {"URL": ".status.url", "Message": ".status.message"}
    status = crdgen.model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["status"]["properties"]
    for column in columns:
        if column["jsonPath"].startswith(".status."):
            field = column["jsonPath"].removeprefix(".status.").split(".")[0]
            assert field in status, f"{column['name']} reads a status field the CRD lacks"


def _without(node: Any, key: str) -> Any:
    """`node` less every schema keyword `key` (a property of that name is kept)."""
    if isinstance(node, dict):
        return {
            k: (
                {name: _without(prop, key) for name, prop in v.items()}
                if k == "properties"
                else _without(v, key)
            )
            for k, v in node.items()
            if k != key
        }
    if isinstance(node, list):
        return [_without(item, key) for item in node]
    return node


SPEC_REPLICAS = (
    "modeldeployments.modeldeploy.io.yaml.spec.versions[0].schema.openAPIV3Schema"
    ".properties.spec.properties.replicas"
)


def test_crds_carry_no_defaults_but_the_scaled_replicas() -> None:
    """The API server would write them into every object, and a policy's defaults fill only
    what the object leaves out; the operator applies them instead. spec.replicas is the one
    the scale subresource needs stored."""
    for file_name, crd in crdgen.all_crds().items():
        for path, node in _walk(crd):
            if f"{file_name}{path}" == SPEC_REPLICAS:
                assert node["default"] == 1
            elif not path.endswith(".properties"):
                assert "default" not in node, f"{file_name}{path}"


def test_model_deployments_scale_as_deployments_do() -> None:
    version = crdgen.model_deployment_crd()["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["replicas"]["type"] == "integer"
    assert status["selector"]["type"] == "string"


def test_defaults_for_the_reference_change_nothing_else() -> None:
    with_defaults = crdgen.model_deployment_crd(with_defaults=True)
    assert _without(with_defaults, "default") == _without(crdgen.model_deployment_crd(), "default")
    assert with_defaults != crdgen.model_deployment_crd()
    policy = crdgen.cluster_rollout_policy_crd(with_defaults=True)
    assert _without(policy, "default") == crdgen.cluster_rollout_policy_crd()


def test_short_names_clash_with_no_well_known_resource() -> None:
    """kubectl picks one resource when two share a short name: md is Cluster API's
    MachineDeployment, crd the CustomResourceDefinition."""
    taken = {"md", "crd", "crds", "deploy", "po", "svc", "cm", "ns", "ev", "mp", "ms", "mhc"}
    for crd in crdgen.all_crds().values():
        names = crd["spec"]["names"]
        assert not set(names["shortNames"]) & taken, names
    model_names = crdgen.model_deployment_crd()["spec"]["names"]
    assert model_names["shortNames"] == ["mdep"]
    assert (model_names["plural"], model_names["singular"]) == (
        "modeldeployments",
        "modeldeployment",
    )
