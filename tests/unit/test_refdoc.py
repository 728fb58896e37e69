import re
from pathlib import Path

from modeldeploy.tools import refdoc

REPO = Path(__file__).resolve().parents[2]


def test_committed_reference_matches_the_models() -> None:
    committed = (REPO / "docs" / "reference.md").read_text()
    assert committed == refdoc.render(), "docs/reference.md is stale: run make reference"


def test_every_link_has_its_section() -> None:
    text = refdoc.render()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links, "no links found"
    assert links <= anchors, f"links to no section: {sorted(links - anchors)}"
    assert len(anchors) == text.count("<a id="), "an anchor is used twice"


def test_defaults_are_the_operators() -> None:
    text = refdoc.render()
    assert "| `interval` | string (duration) | `30s` |" in text
    assert "| `replicas` | integer (0 to 1000) | `1` |" in text
    assert "| `serving` | [object](#modeldeployment-spec-serving) | its fields' defaults |" in text
    # A policy's defaults have none of their own: unset, the ModelDeployment's own apply.
    policy = text.split('<a id="clusterrolloutpolicy-spec-defaults-rollout"></a>', 1)[1]
    assert "| `interval` | string (duration) |  |" in policy.split("### ", 2)[1]


def test_an_object_met_twice_is_described_once() -> None:
    text = refdoc.render()
    assert text.count("### `spec.serving`") == 1
    assert "### `status.stable.source.serving`" not in text
    assert "[object](#modeldeployment-spec-serving) as at `spec.serving`" in text
    assert "Also at `status.canary`, `status.previous`." in text
