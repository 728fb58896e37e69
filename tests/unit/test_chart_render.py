"""The Helm chart rendered without a cluster: lint-clean for each value set, every object it
renders valid against Kubernetes' own schemas and the CRDs' (strict: an unknown field is
refused), what each value set asks for in what it renders, and values the schema refuses."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e import kube_schemas
from e2e.fixtures import REPO, built
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE

CHART = REPO / "charts" / "modeldeploy"
RELEASE, NAMESPACE = "modeldeploy", "modeldeploy-system"
KUBE_VERSION = kube_schemas.K8S_VERSION
SERVICE_ACCOUNT = "platform-operator"

# Kinds kubeconform has no schema for, and why.
NO_COPY = "prometheus-operator's CRD, of which the project keeps no copy"
UNSCHEMED = {
    "monitoring.coreos.com/v1/PodMonitor": NO_COPY,
    "monitoring.coreos.com/v1/PrometheusRule": NO_COPY,
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    # OpenShift's restricted SCC assigns the user and group; the ServiceAccount is the
    # platform's.
    "openshift": {
        "podSecurityContext": {"runAsUser": None, "runAsGroup": None},
        "serviceAccount": {"create": False, "name": SERVICE_ACCOUNT},
    },
    "everything-on": {
        "metrics": {"podMonitor": {"enabled": True, "labels": {"release": "kps"}}},
        "servingPodMonitor": {"enabled": True, "interval": "30s"},
        "prometheusRule": {"enabled": True, "labels": {"release": "kps"}},
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring"},
        "imagePullSecrets": [{"name": "registry-credentials"}],
        "extraArgs": ["--liveness-port=9384"],
        "extraEnv": [
            {"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/owner": "ml-platform"},
        "podLabels": {"team": "ml-platform"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}},
        "defaultServingImage": "registry.example.com/modeldeploy/serving:0.1.0",
        "logLevel": "debug",
        "leaderElection": {"leaseDuration": "30s", "renewDeadline": "20s", "retryPeriod": "5s"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops"}],
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "x"}},
                        },
                    }
                ]
            }
        },
    },
    "two-namespaces-no-webhook": {
        "watchNamespaces": ["team-a", "team-b"],
        "webhook": {"enabled": False},
        "logLevel": "error",
    },
    # A cluster many teams share: the operator reachable only where it must be, reading no
    # Secrets, its replicas on separate nodes.
    "shared-cluster": {
        "networkPolicy": {
            "enabled": True,
            "metricsFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
            ],
        },
        "notifications": {"fromSecrets": False},
        "podAntiAffinity": "hard",
        "podDisruptionBudget": {"maxUnavailable": "50%"},
        "replicas": 3,
    },
}


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def helm() -> str:
    return str(built("build-helm.sh"))


@pytest.fixture(scope="module")
def kubeconform() -> list[str]:
    """kubeconform, strict, against the cluster's Kubernetes version and the CRDs."""
    argv = [str(built("build-kubeconform.sh")), "-strict", "-kubernetes-version", KUBE_VERSION]
    for location in kube_schemas.schema_locations():
        argv += ["-schema-location", location]
    return [*argv, "-skip", ",".join(UNSCHEMED), "-summary", "-output", "json"]


def values_file(directory: Path, name: str, values: dict[str, Any]) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


@pytest.fixture(scope="module")
def values_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("values")


def template(helm: str, values: Path, chart: Path = CHART) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE, "--include-crds",
            "--kube-version", KUBE_VERSION, "-f", str(values),
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def rendered(helm: str, values_dir: Path) -> dict[str, str]:
    """Each value set's manifests."""
    found = {}
    for name, values in VALUE_SETS.items():
        result = template(helm, values_file(values_dir, name, values))
        assert result.returncode == 0, result.stderr
        found[name] = result.stdout
    return found


def objects(manifests: str) -> list[dict[str, Any]]:
    # libyaml's loader: the CRDs make the manifests long.
    return [d for d in yaml.load_all(manifests, Loader=yaml.CSafeLoader) if d]


def one(found: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [match] = [d for d in found if d["kind"] == kind]
    return match


def container(found: list[dict[str, Any]]) -> dict[str, Any]:
    [operator] = one(found, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(operator)


def validate(kubeconform: list[str], path: Path) -> dict[str, Any]:
    result = _run([*kubeconform, str(path)])
    report = json.loads(result.stdout)
    refused = [r for r in report["resources"] if r["status"] in ("statusInvalid", "statusError")]
    # It fails for what it refused, and for nothing else.
    assert (result.returncode != 0) == bool(refused), result.stderr
    return dict(report)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_the_chart_lints_clean(helm: str, values_dir: Path, name: str) -> None:
    values = values_file(values_dir, name, VALUE_SETS[name])
    result = _run([helm, "lint", "--strict", str(CHART), "-f", str(values)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def verdicts(
    kubeconform: list[str], rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[str]]:
    """kubeconform's verdict on each object of each value set, in one run."""
    directory = tmp_path_factory.mktemp("rendered")
    for name, manifests in rendered.items():
        (directory / f"{name}.yaml").write_text(manifests)
    report = validate([*kubeconform, "-verbose"], directory)
    found: dict[str, list[str]] = {name: [] for name in rendered}
    for resource in report["resources"]:
        verdict = resource["status"].removeprefix("status")
        if verdict != "Valid":
            verdict += f" {resource['kind']}: {resource.get('msg', '')}"
        found[Path(resource["filename"]).stem].append(verdict)
    return found


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid_kubernetes(
    rendered: dict[str, str], verdicts: dict[str, list[str]], name: str
) -> None:
    found = objects(rendered[name])
    unschemed = [d for d in found if f"{d['apiVersion']}/{d['kind']}" in UNSCHEMED]
    expected = ["Valid"] * (len(found) - len(unschemed))
    expected += [f"Skipped {d['kind']}: " for d in unschemed]
    assert sorted(verdicts[name]) == sorted(expected)


def test_kubeconform_refuses_a_field_kubernetes_does_not_know(
    kubeconform: list[str], rendered: dict[str, str], tmp_path: Path
) -> None:
    found = objects(rendered["defaults"])
    deployment = one(found, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    crd = next(d for d in found if d["kind"] == "CustomResourceDefinition")
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["propertiez"] = {}
    model_deployment = yaml.safe_load((REPO / "examples" / "iris.yaml").read_text())
    model_deployment["spec"]["rollout"]["stepz"] = []
    manifests = tmp_path / "unknown-fields.yaml"
    manifests.write_text(yaml.safe_dump_all([deployment, crd, model_deployment]))
    report = validate(kubeconform, manifests)
    refused = {r["kind"]: r["msg"] for r in report["resources"] if r["status"] == "statusInvalid"}
    assert set(refused) == {"Deployment", "CustomResourceDefinition", "ModelDeployment"}, report
    assert "imagePullPolicyy" in refused["Deployment"]
    assert "propertiez" in refused["CustomResourceDefinition"]
    assert "stepz" in refused["ModelDeployment"]


def test_the_examples_are_valid_model_deployments(kubeconform: list[str]) -> None:
    report = validate(kubeconform, REPO / "examples" / "iris.yaml")
    assert report["summary"]["valid"] == 1, report


def test_the_defaults_run_hardened(rendered: dict[str, str]) -> None:
    found = objects(rendered["defaults"])
    pod = one(found, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    operator = container(found)
    assert operator["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["serviceAccountName"] == one(found, "ServiceAccount")["metadata"]["name"]
    assert "priorityClassName" not in pod and "imagePullSecrets" not in pod
    args = operator["args"]
    assert "--log-level=info" in args
    assert "--leader-election-lease-duration=10s" in args
    assert "--leader-election-renew-deadline=7s" in args
    assert "--leader-election-retry-period=2s" in args
    env = {e["name"] for e in operator["env"]}
    assert "MODELDEPLOY_DEFAULT_SERVING_IMAGE" not in env, "the operator's own default applies"
    # Two replicas, kept on separate nodes where the scheduler can, and never both drained.
    [term] = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    budget = one(found, "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == one(found, "Deployment")["spec"]["selector"]
    assert not [d for d in found if d["kind"] == "NetworkPolicy"]


def test_openshift_assigns_the_user_and_the_service_account_is_the_platforms(
    rendered: dict[str, str],
) -> None:
    found = objects(rendered["openshift"])
    pod = one(found, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert not [d for d in found if d["kind"] == "ServiceAccount"]
    bindings = [d for d in found if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert bindings
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
        ]


def test_everything_on_renders_what_each_value_asks(rendered: dict[str, str]) -> None:
    found = objects(rendered["everything-on"])
    kinds = sorted(d["kind"] for d in found)
    assert kinds.count("PodMonitor") == 2 and "PrometheusRule" in kinds
    dashboard = one(found, "ConfigMap")
    assert dashboard["metadata"]["namespace"] == "monitoring"
    template = one(found, "Deployment")["spec"]["template"]
    pod = template["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert template["metadata"]["annotations"] == {"example.com/owner": "ml-platform"}
    assert template["metadata"]["labels"] == {
        "app.kubernetes.io/name": "modeldeploy",
        "app.kubernetes.io/instance": RELEASE,
        "team": "ml-platform",
    }
    assert one(found, "ServiceAccount")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"
    }
    operator = container(found)
    # Last, so that it wins over the chart's own --liveness-port.
    assert operator["args"][-1] == "--liveness-port=9384"
    assert "--log-level=debug" in operator["args"]
    assert "--leader-election-lease-duration=30s" in operator["args"]
    env = {e["name"]: e for e in operator["env"]}
    assert env["HTTPS_PROXY"]["value"] == "http://proxy.example.com:3128"
    assert env["NODE"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert (
        env["MODELDEPLOY_DEFAULT_SERVING_IMAGE"]["value"]
        == "registry.example.com/modeldeploy/serving:0.1.0"
    )


def test_two_namespaces_without_the_webhook(rendered: dict[str, str]) -> None:
    found = objects(rendered["two-namespaces-no-webhook"])
    kinds = {d["kind"] for d in found}
    assert not kinds & {"ValidatingWebhookConfiguration", "Secret", "Service"}
    roles = {(d["kind"], d["metadata"].get("namespace")) for d in found}
    assert {("Role", "team-a"), ("Role", "team-b")} <= roles
    args = container(found)["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert not [a for a in args if a.startswith("--webhook")]
    assert "--log-level=error" in args


@pytest.fixture(scope="module")
def notes_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart with its NOTES.txt rendered into a ConfigMap: `helm template` leaves the
    notes out, and `helm install --dry-run` needs a cluster."""
    chart = tmp_path_factory.mktemp("notes") / "modeldeploy"
    subprocess.run(["cp", "-r", str(CHART), str(chart)], check=True)
    (chart / "templates" / "NOTES.txt").rename(chart / "notes.txt")
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ tpl (.Files.Get "notes.txt") . | quote }}}\n'
    )
    return chart


def notes(helm: str, chart: Path, values: Path) -> str:
    result = template(helm, values, chart)
    assert result.returncode == 0, result.stderr
    [config_map] = [d for d in objects(result.stdout) if d["metadata"]["name"] == "notes"]
    return str(config_map["data"]["notes"])


def test_the_notes_say_what_was_installed_and_how_to_find_the_leader(
    helm: str, notes_chart: Path, values_dir: Path
) -> None:
    default = notes(helm, notes_chart, values_file(values_dir, "defaults", {}))
    assert f"installed as release {RELEASE} in namespace {NAMESPACE}" in default
    assert "watching every namespace" in default
    assert f"kubectl -n {NAMESPACE} get lease modeldeploy-operator" in default
    assert "kubectl apply" in default and "examples/iris.yaml" in default
    assert DEFAULT_SERVING_IMAGE in default
    name = "two-namespaces-no-webhook"
    some = notes(helm, notes_chart, values_file(values_dir, name, VALUE_SETS[name]))
    assert "the namespaces team-a, team-b" in some and "no admission webhook" in some


BAD_VALUES: dict[str, tuple[dict[str, Any], str]] = {
    "a misspelt key": ({"webhok": {"enabled": False}}, "additional properties 'webhok'"),
    "a misspelt nested key": (
        {"serviceAccount": {"craete": False}},
        "additional properties 'craete'",
    ),
    "a level that is none": ({"logLevel": "verbose"}, "/logLevel"),
    "a duration that is none": ({"leaderElection": {"retryPeriod": "2"}}, "/retryPeriod"),
}


@pytest.fixture(params=sorted(BAD_VALUES))
def bad_values(request: pytest.FixtureRequest, values_dir: Path) -> Iterator[tuple[Path, str]]:
    values, said = BAD_VALUES[request.param]
    yield values_file(values_dir, request.param.replace(" ", "-"), values), said


def test_values_the_schema_refuses(helm: str, bad_values: tuple[Path, str]) -> None:
    values, said = bad_values
    templated = template(helm, values)
    assert templated.returncode != 0 and said in templated.stderr, templated.stderr
    linted = _run([helm, "lint", "--strict", str(CHART), "-f", str(values)])
    assert linted.returncode != 0 and said in linted.stdout + linted.stderr, linted.stdout


def test_a_shared_cluster_reaches_the_operator_only_where_it_must(
    rendered: dict[str, str],
) -> None:
    found = objects(rendered["shared-cluster"])
    policy = one(found, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule.get("from") for rule in policy["ingress"]}
    assert set(by_port) == {9443, 8383, 8384}
    assert by_port[8383] == VALUE_SETS["shared-cluster"]["networkPolicy"]["metricsFrom"]
    granted = [
        (d["kind"], d["metadata"].get("namespace"), rule)
        for d in found
        if d["kind"] in ("Role", "ClusterRole")
        for rule in d["rules"]
        if "secrets" in rule["resources"]
    ]
    # Where notifications may not come from Secrets, the operator reads one Secret only: its
    # own serving admin key, in its own namespace, which it makes once.
    own = f"{RELEASE}-serving-admin"
    assert sorted(
        (kind, namespace, tuple(rule["verbs"]), tuple(rule.get("resourceNames", ())))
        for kind, namespace, rule in granted
    ) == [("Role", NAMESPACE, ("create",), ()), ("Role", NAMESPACE, ("get",), (own,))]
    operator = container(found)
    assert {"name": "MODELDEPLOY_NOTIFICATIONS_FROM_SECRETS", "value": "false"} in operator["env"]
    pod = one(found, "Deployment")["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert one(found, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
