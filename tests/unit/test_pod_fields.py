"""What serving pods need on real clusters: credentials from Secrets, a service account,
volumes, node placement, pull secrets, labels and annotations, a disruption budget."""

from typing import Any

import pytest
from pydantic import ValidationError

from modeldeploy.api import names
from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import parse_spec, revision_source
from modeldeploy.workload import render

OWNER = render.Owner(name="fraud", namespace="ml", uid="uid-1")
MODEL = {"name": "fraud", "version": "v1", "uri": "s3://models/fraud.joblib", "format": "sklearn"}


def spec(**serving: Any) -> Any:
    return parse_spec({"model": MODEL, "replicas": 2, "serving": serving})


def pod(**serving: Any) -> dict[str, Any]:
    template: dict[str, Any] = render.build_pod_template(OWNER, spec(**serving), "rev1")
    return template


PRIVATE_BUCKET = {
    "env": [
        {"name": "AWS_ENDPOINT_URL_S3", "value": "http://s3.store:9000"},
        {
            "name": "AWS_ACCESS_KEY_ID",
            "valueFrom": {"secretKeyRef": {"name": "bucket-reader", "key": "access-key"}},
        },
        {
            "name": "AWS_SECRET_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": "bucket-reader", "key": "secret-key"}},
        },
    ],
    "envFrom": [{"configMapRef": {"name": "tuning"}, "prefix": "SERVING_"}],
}


def test_credentials_come_from_secret_references_never_from_the_spec() -> None:
    container = pod(**PRIVATE_BUCKET)["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_ACCESS_KEY_ID"] == {
        "name": "AWS_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "bucket-reader", "key": "access-key"}},
    }
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://s3.store:9000"
    assert container["envFrom"] == [{"configMapRef": {"name": "tuning"}, "prefix": "SERVING_"}]


def test_a_named_service_account_gets_its_token_and_no_other_pod_does() -> None:
    with_account = pod(serviceAccountName="model-reader")["spec"]
    assert with_account["serviceAccountName"] == "model-reader"
    assert with_account["automountServiceAccountToken"] is True
    without = pod()["spec"]
    assert "serviceAccountName" not in without
    assert without["automountServiceAccountToken"] is False


def test_volumes_and_mounts_join_the_operators_own_tmp() -> None:
    rendered = pod(
        volumes=[{"name": "certs", "secret": {"secretName": "ca"}}],
        volumeMounts=[{"name": "certs", "mountPath": "/etc/ca", "readOnly": True}],
    )
    assert [v["name"] for v in rendered["spec"]["volumes"]] == ["tmp", "certs"]
    assert rendered["spec"]["volumes"][1] == {"name": "certs", "secret": {"secretName": "ca"}}
    mounts = rendered["spec"]["containers"][0]["volumeMounts"]
    assert mounts[1] == {"name": "certs", "mountPath": "/etc/ca", "readOnly": True}


def test_placement_fields_reach_the_pod_and_spread_selects_the_revision() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]
            }
        }
    }
    rendered = pod(
        nodeSelector={"node.kubernetes.io/instance-type": "g5.xlarge"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        affinity=affinity,
        topologySpreadConstraints=[
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}
        ],
        imagePullSecrets=[{"name": "registry"}],
    )["spec"]
    assert rendered["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.xlarge"}
    assert rendered["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert rendered["affinity"] == affinity
    spread = rendered["topologySpreadConstraints"][0]
    assert spread["labelSelector"] == {"matchLabels": names.selector_labels("fraud", "rev1")}
    assert rendered["imagePullSecrets"] == [{"name": "registry"}]


def test_pod_labels_and_annotations_never_displace_the_operators_own() -> None:
    rendered = pod(
        podLabels={"team": "fraud"},
        podAnnotations={"prometheus.io/scrape": "false", "example.com/owner": "ml"},
    )
    assert rendered["metadata"]["labels"]["team"] == "fraud"
    annotations = rendered["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["example.com/owner"] == "ml"


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    rendered = pod(**PRIVATE_BUCKET, serviceAccountName="reader")["spec"]
    container = rendered["containers"][0]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert all("hostPath" not in v for v in rendered["volumes"])


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        (
            {
                "env": [
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            },
            "mutually exclusive",
        ),
        ({"env": [{"name": "A", "valueFrom": {}}]}, "exactly one"),
        ({"envFrom": [{"secretRef": {"name": "s"}, "configMapRef": {"name": "c"}}]}, "exactly one"),
        ({"envFrom": [{"secretRef": {"name": "s"}, "prefix": "MODEL_"}]}, "MODEL_"),
        ({"volumes": [{"name": "v"}]}, "exactly one"),
        ({"volumes": [{"name": "v", "secret": {}, "emptyDir": {}}]}, "exactly one"),
        ({"volumes": [{"name": "tmp", "emptyDir": {}}]}, "operator's own"),
        ({"volumeMounts": [{"name": "nowhere", "mountPath": "/x"}]}, "no volume"),
        (
            {
                "volumes": [{"name": "v", "emptyDir": {}}],
                "volumeMounts": [{"name": "v", "mountPath": "/tmp"}],
            },
            "/tmp",
        ),
        ({"podLabels": {"modeldeploy.io/revision": "x"}}, "operator sets"),
        ({"nodeSelector": {"bad key!": "x"}}, "qualified name"),
        ({"disruptionBudget": {"maxUnavailable": "half"}}, "percentage"),
        ({"disruptionBudget": {"maxUnavailable": -1}}, "negative"),
        ({"hostPath": {"path": "/"}}, "Extra inputs"),
    ],
)
def test_pod_fields_that_could_never_work_are_refused(
    serving: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**serving)


def test_specs_without_the_pod_fields_keep_their_revision() -> None:
    """An operator upgrade that adds fields must not roll out every model again."""
    plain = spec(env=[{"name": "LOG_LEVEL", "value": "debug"}])
    assert set(revision_source(plain)["serving"]) == {
        "image",
        "port",
        "resources",
        "env",
        "startupTimeout",
    }
    assert compute_revision("fraud", plain) == compute_revision(
        "fraud",
        spec(
            **{
                "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                "podLabels": None,
            }
        ),
    )


def test_each_revision_has_a_disruption_budget_owned_by_its_deployment() -> None:
    deployment = render.build_deployment(
        OWNER, spec(disruptionBudget={"maxUnavailable": "25%"}), "rev1", 4
    )
    deployment["metadata"]["uid"] = "deployment-uid"
    budget = render.build_disruption_budget(
        deployment, spec(disruptionBudget={"maxUnavailable": "25%"}), "fraud", "rev1"
    )
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["metadata"]["name"] == deployment["metadata"]["name"]
    assert budget["metadata"]["ownerReferences"][0]["uid"] == "deployment-uid"
    assert budget["spec"] == {
        "maxUnavailable": "25%",
        "selector": {"matchLabels": names.selector_labels("fraud", "rev1")},
    }
    default = render.build_disruption_budget(deployment, spec(), "fraud", "rev1")
    assert default["spec"]["maxUnavailable"] == 1
