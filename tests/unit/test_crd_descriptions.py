"""Every node of the generated CRDs says what it is: `kubectl explain` shows nothing else.

A field's description comes from `Field(description=...)`, or else from its model's docstring
(crdgen merges the referenced model's schema, and the field's own description wins); the root
fields' from crdgen. A node without one is named here by its path.
"""

from collections.abc import Iterator
from typing import Any

from modeldeploy.tools import crdgen

JsonSchema = dict[str, Any]


def _nodes(node: JsonSchema, path: str) -> Iterator[tuple[str, JsonSchema]]:
    """Every schema node under `node`: properties, list items and map values."""
    for name, child in (node.get("properties") or {}).items():
        yield f"{path}.{name}", child
        yield from _nodes(child, f"{path}.{name}")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        child = node.get(key)
        if isinstance(child, dict):
            yield f"{path}{suffix}", child
            yield from _nodes(child, f"{path}{suffix}")


def _schemas() -> Iterator[tuple[str, JsonSchema]]:
    for file_name, crd in crdgen.all_crds().items():
        yield file_name, crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


# The API server refuses a CRD whose metadata schema says more than its type; kubectl explain
# shows ObjectMeta's own documentation there.
UNDESCRIBED = {".metadata"}


def test_every_node_has_a_description() -> None:
    missing = []
    for file_name, root in _schemas():
        kind = file_name.split(".", 1)[0]
        if not root.get("description"):
            missing.append(f"{kind}: the root")
        missing += [
            f"{kind}: {path}"
            for path, node in _nodes(root, "")
            if not node.get("description") and path not in UNDESCRIBED
        ]
    assert not missing, "nodes without a description:\n" + "\n".join(missing)


def test_the_metadata_schema_is_only_its_type() -> None:
    for _, root in _schemas():
        assert root["properties"]["metadata"] == {"type": "object"}


def test_the_walk_reaches_items_and_map_values() -> None:
    paths = {path for _, root in _schemas() for path, _node in _nodes(root, "")}
    assert ".spec.rollout.steps[].weight" in paths
    assert ".spec.rollout.stepWeights[]" in paths
    assert ".spec.serving.resources.limits{}" in paths
    assert ".status.handledCommands{}" in paths
    assert ".spec.defaults.rollout.checks[].maxIncrease" in paths


def test_descriptions_are_flowed_into_paragraphs() -> None:
    """A docstring's line breaks are not kept: kubectl explain wraps the text itself."""
    for file_name, root in _schemas():
        for path, node in [("", root), *_nodes(root, "")]:
            text = node.get("description", "")
            assert "\n" not in text.replace("\n\n", ""), f"{file_name} {path}: {text!r}"
            assert text == text.strip() and "  " not in text, f"{file_name} {path}: {text!r}"


def test_a_fields_own_description_wins_over_its_models() -> None:
    spec = dict(_schemas())["modeldeployments.modeldeploy.io.yaml"]["properties"]
    # RolloutSpec.traffic has a description of its own; TrafficSpec's docstring is the other.
    traffic = spec["spec"]["properties"]["rollout"]["properties"]["traffic"]
    assert traffic["description"].startswith("How the weight becomes traffic")
    # ModelDeploymentSpec.model has none: ModelSpec's docstring describes it.
    assert spec["spec"]["properties"]["model"]["description"].startswith("The model to serve")
    # The spec's and status' descriptions are crdgen's, as Kubernetes' own CRDs word them.
    assert spec["spec"]["description"].startswith("Specification of the desired behavior")
    assert spec["status"]["description"].startswith("Most recently observed status")
