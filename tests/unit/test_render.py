from typing import Any

from modeldeploy.api import names
from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import parse_spec
from modeldeploy.workload import render

OWNER = render.Owner(name="fraud", namespace="ml", uid="uid-1")


def spec(**overrides: Any) -> Any:
    raw: dict[str, Any] = {
        "model": {
            "name": "fraud",
            "version": "v3",
            "uri": "file:///models/fraud.joblib",
            "format": "sklearn",
            "sha256": "b" * 64,
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
        },
        "replicas": 3,
        "serving": {"env": [{"name": "LOG_LEVEL", "value": "debug"}]},
    }
    raw.update(overrides)
    return parse_spec(raw)


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_deployment_is_named_and_labelled_by_revision() -> None:
    deployment = render.build_deployment(OWNER, spec(), "abc123", 3)
    assert deployment["metadata"]["name"] == "fraud-abc123"
    assert deployment["spec"]["replicas"] == 3
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {names.LABEL_NAME: "fraud", names.LABEL_REVISION: "abc123"}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    owner = deployment["metadata"]["ownerReferences"][0]
    assert owner["uid"] == "uid-1" and owner["controller"] is True


def test_serving_container_is_configured_for_the_model() -> None:
    env = env_of(render.build_deployment(OWNER, spec(), "abc123", 1))
    assert env["MODEL_NAME"] == "fraud"
    assert env["MODEL_VERSION"] == "v3"
    assert env["MODEL_REVISION"] == "abc123"
    assert env["MODEL_SHA256"] == "b" * 64
    assert '"shape":[-1,4]' in env["MODEL_INPUT_SCHEMA"]
    assert env["LOG_LEVEL"] == "debug"
    assert "MODEL_OUTPUT_SCHEMA" not in env


def test_pod_is_locked_down_probed_and_scraped() -> None:
    template = render.build_deployment(OWNER, spec(), "abc123", 1)["spec"]["template"]
    container = template["spec"]["containers"][0]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    # 5m default startup timeout at a 2 s period.
    assert container["startupProbe"]["failureThreshold"] == 150
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert container["resources"]["requests"]["cpu"] == "100m"


def test_services_select_by_track() -> None:
    main, stable, canary = render.build_services(OWNER, "r1", "r2", ["r1", "r2"])
    assert main["metadata"]["name"] == "fraud"
    assert main["spec"]["selector"] == {names.LABEL_NAME: "fraud"}
    assert stable["spec"]["selector"][names.LABEL_REVISION] == "r1"
    assert canary["spec"]["selector"][names.LABEL_REVISION] == "r2"
    _, _, idle_canary = render.build_services(OWNER, "r1", None)
    assert idle_canary["spec"]["selector"][names.LABEL_REVISION] == "r1"


def test_the_client_service_sends_to_the_routers_choice_of_revisions() -> None:
    alone, _, _ = render.build_services(OWNER, "r1", "r2", ["r1"])
    assert alone["spec"]["selector"] == {names.LABEL_NAME: "fraud", names.LABEL_REVISION: "r1"}
    promoted, _, _ = render.build_services(OWNER, "r2", None, ["r2"])
    assert promoted["spec"]["selector"][names.LABEL_REVISION] == "r2"


def test_before_a_stable_exists_no_service_selects_a_pod() -> None:
    """A first deploy whose preflight has not passed: clients, and a route to either track,
    reach no pod of it."""
    services = render.build_services(OWNER, None, None, [])
    for service in services:
        assert service["spec"]["selector"][names.LABEL_REVISION] == names.NO_REVISION


def test_revision_ignores_replicas_and_rollout_but_not_the_model() -> None:
    base = compute_revision("fraud", spec())
    assert compute_revision("fraud", spec(replicas=9)) == base
    assert compute_revision("fraud", spec(rollout={"stepWeights": [10, 50]})) == base
    changed = spec(
        model={**spec().model.model_dump(by_alias=True, exclude_none=True), "version": "v4"}
    )
    assert compute_revision("fraud", changed) != base
    assert compute_revision("other", spec()) != base
    assert compute_revision("fraud", spec(serving={"port": 9000})) != base


def test_the_admin_port_opens_to_its_revisions_token_only_and_no_service_exposes_it() -> None:
    from modeldeploy.workload import admin

    key = b"the-operators-key"
    deployment = render.build_deployment(OWNER, spec(), "abc123", 1, key)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "admin": 8081}
    env = env_of(deployment)
    assert env["SERVING_ADMIN_PORT"] == "8081"
    # The pod holds the digest of this revision's token; another revision's opens nothing.
    own = admin.token(key, "ml", "fraud", "abc123")
    assert env["SERVING_ADMIN_TOKEN_SHA256"] == admin.token_digest(own)
    assert admin.token(key, "ml", "fraud", "def456") != own
    assert admin.token(key, "ml", "other", "abc123") != own
    assert own not in str(deployment)
    for service in render.build_services(OWNER, "abc123", None, ["abc123"]):
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    # Without a key the pods open no admin port.
    plain = render.build_deployment(OWNER, spec(), "abc123", 1)
    assert [p["name"] for p in plain["spec"]["template"]["spec"]["containers"][0]["ports"]] == [
        "http"
    ]
    assert "SERVING_ADMIN_PORT" not in env_of(plain)
    assert admin.admin_port(65535) == 65534
