"""The GitOps examples (examples/gitops) have the shape Argo CD and Flux take: each object its
kind's required fields, every path and source it names there, every chart value one the chart
has, the health check the chart ships, and ModelDeployments the operator takes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.api.spec import MAX_NAME_LENGTH
from modeldeploy.validation import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "gitops"
CHART = REPO / "charts" / "modeldeploy"
HEALTH_KEY = "resource.customizations.health.modeldeploy.io_ModelDeployment"
GO_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+")

Document = tuple[Path, dict[str, Any]]


def documents() -> list[Document]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert isinstance(document, dict), f"{path}: a document is no object"
            found.append((path, document))
    return found


DOCUMENTS = documents()


def of_kind(api_version: str, kind: str) -> list[Document]:
    return [(p, d) for p, d in DOCUMENTS if (d["apiVersion"], d["kind"]) == (api_version, kind)]


def ident(item: Document) -> str:
    path, document = item
    name = (document.get("metadata") or {}).get("name", "")
    return f"{path.relative_to(EXAMPLES)}:{document['kind']}/{name}"


def in_repo(relative: str) -> Path:
    path = (REPO / relative).resolve()
    assert path.is_relative_to(REPO) and path.exists(), f"{relative} is not in the repository"
    return path


def leaves(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, (*prefix, key))
    else:
        yield prefix


def assert_chart_values(values: dict[str, Any]) -> None:
    """Every value set is one the chart's values.yaml has, at the same place."""
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaves(values):
        node: Any = chart_values
        for key in path:
            assert isinstance(node, dict) and key in node, (
                f"the chart has no value {'.'.join(path)}"
            )
            node = node[key]


def assert_duration(value: Any) -> None:
    assert isinstance(value, str) and GO_DURATION.fullmatch(value), f"{value!r}: no duration"


def test_the_examples_are_there_and_every_object_is_of_a_kind_checked_here() -> None:
    checked = {
        ("argoproj.io/v1alpha1", "Application"),
        ("v1", "ConfigMap"),
        ("v1", "Namespace"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
        ("modeldeploy.io/v1alpha1", "ModelDeployment"),
    }
    kinds = {(d.get("apiVersion"), d.get("kind")) for _, d in DOCUMENTS}
    assert kinds == checked
    for path, document in DOCUMENTS:
        if document["apiVersion"] != "kustomize.config.k8s.io/v1beta1":
            assert document["metadata"]["name"], f"{path}: metadata.name"


# --- Argo CD ----------------------------------------------------------------------------------

APPLICATIONS = of_kind("argoproj.io/v1alpha1", "Application")


@pytest.mark.parametrize("item", APPLICATIONS, ids=ident)
def test_an_application_names_its_source_and_destination(item: Document) -> None:
    _, application = item
    assert application["metadata"]["namespace"] == "argocd"
    spec = application["spec"]
    assert spec["project"]
    source = spec["source"]
    assert source["repoURL"].startswith("https://") and source["targetRevision"]
    folder = in_repo(source["path"])
    assert (folder / "Chart.yaml").exists() or (folder / "kustomization.yaml").exists()
    assert spec["destination"]["server"] and spec["destination"]["namespace"]
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}


def test_the_operators_application_installs_the_chart_and_keeps_its_webhook_certificate() -> None:
    [application] = [
        d for _, d in APPLICATIONS if d["spec"]["source"]["path"] == "charts/modeldeploy"
    ]
    spec = application["spec"]
    helm = spec["source"]["helm"]
    assert_chart_values(helm["valuesObject"])
    release = helm["releaseName"]
    # The names the chart gives the certificate's Secret and the webhook configuration.
    template = (CHART / "templates" / "webhook.yaml").read_text()
    assert '$secretName := printf "%s-webhook-tls" $fullname' in template
    assert "name: {{ $fullname }}" in template
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'printf "%s" .Release.Name' in helpers, "the full name is the release's"
    ignored = {(d["kind"], d["name"]): d for d in spec["ignoreDifferences"]}
    secret = ignored[("Secret", f"{release}-webhook-tls")]
    assert secret["namespace"] == spec["destination"]["namespace"]
    assert secret["jsonPointers"] == ["/data"]
    webhook = ignored[("ValidatingWebhookConfiguration", release)]
    assert webhook["jqPathExpressions"] == [".webhooks[].clientConfig.caBundle"]
    options = spec["syncPolicy"]["syncOptions"]
    assert {"RespectIgnoreDifferences=true", "ServerSideApply=true"} <= set(options)


def test_the_models_application_syncs_the_folder_of_model_deployments() -> None:
    [application] = [
        d for _, d in APPLICATIONS if d["spec"]["source"]["path"] == "examples/gitops/models"
    ]
    assert "SkipDryRunOnMissingResource=true" in application["spec"]["syncPolicy"]["syncOptions"]
    waves = {
        d["spec"]["source"]["path"]: int(
            d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        )
        for _, d in APPLICATIONS
    }
    assert waves["charts/modeldeploy"] < waves["examples/gitops/models"]


def test_argo_cds_health_check_is_the_one_the_chart_ships() -> None:
    [(_, config)] = of_kind("v1", "ConfigMap")
    assert (config["metadata"]["name"], config["metadata"]["namespace"]) == ("argocd-cm", "argocd")
    shipped = (CHART / "docs" / "argocd-health.lua").read_text()
    assert config["data"] == {HEALTH_KEY: shipped}


# --- Flux -------------------------------------------------------------------------------------

GIT_REPOSITORIES = of_kind("source.toolkit.fluxcd.io/v1", "GitRepository")
HELM_RELEASES = of_kind("helm.toolkit.fluxcd.io/v2", "HelmRelease")
FLUX_KUSTOMIZATIONS = of_kind("kustomize.toolkit.fluxcd.io/v1", "Kustomization")


def defined(documents: list[Document]) -> set[tuple[str, str]]:
    return {(d["metadata"]["name"], d["metadata"]["namespace"]) for _, d in documents}


@pytest.mark.parametrize("item", GIT_REPOSITORIES, ids=ident)
def test_a_git_repository_has_a_url_a_ref_and_an_interval(item: Document) -> None:
    spec = item[1]["spec"]
    assert spec["url"].startswith("https://")
    assert len(set(spec["ref"]) & {"branch", "tag", "semver", "commit", "name"}) == 1
    assert_duration(spec["interval"])


@pytest.mark.parametrize("item", HELM_RELEASES, ids=ident)
def test_a_helm_release_installs_the_chart_from_a_source_defined_here(item: Document) -> None:
    _, release = item
    spec = release["spec"]
    assert_duration(spec["interval"])
    chart = spec["chart"]["spec"]
    assert (in_repo(chart["chart"]) / "Chart.yaml").exists()
    assert chart["reconcileStrategy"] == "Revision", "a chart from git: each commit a release"
    source = chart["sourceRef"]
    namespace = source.get("namespace", release["metadata"]["namespace"])
    assert source["kind"] == "GitRepository"
    assert (source["name"], namespace) in defined(GIT_REPOSITORIES)
    # Helm installs a chart's crds/ folder once and never upgrades it: the chart has none, its
    # CRDs are templates that every release applies.
    assert not (in_repo(chart["chart"]) / "crds").exists()
    assert "crds" not in spec["install"] and "crds" not in spec["upgrade"]
    assert spec["install"]["createNamespace"] is True and spec["targetNamespace"]
    assert_chart_values(spec["values"])


@pytest.mark.parametrize("item", FLUX_KUSTOMIZATIONS, ids=ident)
def test_a_flux_kustomization_applies_a_folder_of_a_source_defined_here(item: Document) -> None:
    _, kustomization = item
    spec = kustomization["spec"]
    namespace = kustomization["metadata"]["namespace"]
    assert_duration(spec["interval"])
    assert_duration(spec["timeout"])
    assert (in_repo(spec["path"]) / "kustomization.yaml").exists()
    source = spec["sourceRef"]
    assert source["kind"] == "GitRepository"
    assert (source["name"], source.get("namespace", namespace)) in defined(GIT_REPOSITORIES)
    assert spec["prune"] is True and spec["wait"] is True
    for dependency in spec.get("dependsOn", []):
        assert (dependency["name"], namespace) in defined(FLUX_KUSTOMIZATIONS)


def test_the_model_deployments_wait_for_the_operator() -> None:
    by_path = {d["spec"]["path"]: d for _, d in FLUX_KUSTOMIZATIONS}
    operator = by_path["./examples/gitops/flux/operator"]
    models = by_path["./examples/gitops/models"]
    assert models["spec"]["dependsOn"] == [{"name": operator["metadata"]["name"]}]
    releases = {p.parent for p, _ in HELM_RELEASES}
    assert releases == {in_repo(operator["spec"]["path"])}


# --- the folders both tools read --------------------------------------------------------------

KUSTOMIZE_FILES = of_kind("kustomize.config.k8s.io/v1beta1", "Kustomization")


@pytest.mark.parametrize("item", KUSTOMIZE_FILES, ids=ident)
def test_a_kustomization_lists_every_manifest_of_its_folder(item: Document) -> None:
    path, kustomization = item
    listed = kustomization["resources"]
    for resource in listed:
        assert (path.parent / resource).is_file(), f"{path}: {resource} is missing"
    others = {p.name for p in path.parent.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == others, f"{path}: lists {listed}, the folder has {sorted(others)}"


MODEL_DEPLOYMENTS = of_kind("modeldeploy.io/v1alpha1", "ModelDeployment")


def test_there_are_model_deployments_to_sync() -> None:
    assert len(MODEL_DEPLOYMENTS) >= 2


@pytest.mark.parametrize("item", MODEL_DEPLOYMENTS, ids=ident)
def test_a_model_deployment_is_one_the_operator_takes(item: Document) -> None:
    path, model_deployment = item
    meta = model_deployment["metadata"]
    assert len(meta["name"]) <= MAX_NAME_LENGTH
    load_spec(model_deployment["spec"])
    namespaces = {
        d["metadata"]["name"] for p, d in of_kind("v1", "Namespace") if p.parent == path.parent
    }
    assert meta["namespace"] in namespaces, "its namespace is made beside it"


# --- the README -------------------------------------------------------------------------------


def test_the_readmes_link_every_example() -> None:
    assert "examples/gitops/README.md" in (REPO / "README.md").read_text()
    readme = (EXAMPLES / "README.md").read_text()
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        relative = path.relative_to(EXAMPLES)
        if relative.parts[0] != "models" and relative.name != "kustomization.yaml":
            assert f"]({relative})" in readme, f"{relative} is not linked"
    assert "](models)" in readme
