"""What a ModelDeployment may reach under a policy: its model's source, its image, and the
environment and file system a spec could use to get around either."""

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modeldeploy.api.envnames import ENDPOINT_NAMES, EnvClass, classify, prefix_reaches
from modeldeploy.api.policy import PolicyRules, parse_policy_spec
from modeldeploy.api.spec import parse_spec
from modeldeploy.policy.reach import SYSTEM_PATHS
from modeldeploy.policy.rules import policy_problems, violations

STORE = "http://s3.model-store.svc.cluster.local:9000"
MODEL = {"name": "iris", "version": "v1", "uri": "s3://models-prod/iris", "format": "sklearn"}
SECRET = {"secretKeyRef": {"name": "reader", "key": "id"}}


def spec(serving: dict[str, Any] | None = None, uri: str | None = None) -> Any:
    model = {**MODEL, "uri": uri} if uri is not None else MODEL
    return parse_spec({"model": model, "serving": serving or {}})


def broken(model_spec: Any, **rules: Any) -> list[str]:
    found = violations(model_spec, "production", PolicyRules.model_validate(rules))
    return [str(v) for v in found]


def env(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"env": [{"name": name, "value": value} for name, value in pairs]}


URIS = {"allowedModelUris": ["s3://models-prod/"]}
WITH_STORE = {**URIS, "allowedModelEndpoints": [STORE]}


def test_credentials_region_and_tuning_are_the_specs_under_every_rule() -> None:
    serving = {
        "env": [
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": SECRET},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": SECRET},
            {"name": "AWS_REGION", "value": "eu-west-1"},
            {"name": "NO_PROXY", "value": ".svc"},
            {"name": "SERVING_MAX_REQUESTS_PER_CONNECTION", "value": "10"},
            {"name": "LOG_LEVEL", "value": "DEBUG"},
            {"name": "AWS_ENDPOINT_URL_S3", "value": STORE},
        ],
        "envFrom": [{"prefix": "APP_", "configMapRef": {"name": "tuning"}}],
        "volumes": [{"name": "labels", "configMap": {"name": "tuning"}}],
        "volumeMounts": [{"name": "labels", "mountPath": "/mnt/tuning"}],
    }
    assert broken(spec(serving), **WITH_STORE, allowedImages=["modeldeploy/"]) == []


def test_without_a_rule_on_sources_an_endpoint_override_is_the_specs() -> None:
    # A single-tenant cluster, or a policy that says nothing of where models come from: the
    # local cluster's own scenarios reach their in-cluster store so.
    overridden = spec(env(("AWS_ENDPOINT_URL_S3", "http://anywhere:9000")))
    assert broken(overridden) == []
    assert broken(overridden, maxReplicas=5) == []


@pytest.mark.parametrize("name", sorted(ENDPOINT_NAMES))
def test_an_endpoint_the_policy_does_not_name_is_refused(name: str) -> None:
    found = broken(spec(env((name, "http://evil.example.com:9000"))), **URIS)
    assert found == [
        f"policy production, rule allowedModelUris: spec.serving.env[0] ({name}) is "
        "http://evil.example.com:9000; its value is a server the model fetch goes to instead of "
        "the model URI's own; inside none of the allowed endpoints (allowedModelEndpoints): none"
    ]


def test_an_endpoint_inside_allowed_model_endpoints_is_admitted() -> None:
    assert broken(spec(env(("AWS_ENDPOINT_URL_S3", STORE))), **WITH_STORE) == []
    assert broken(spec(env(("https_proxy", STORE + "/"))), **WITH_STORE) == []
    [found] = broken(spec(env(("S3_ENDPOINT_URL", STORE.replace("9000", "9001")))), **WITH_STORE)
    assert "rule allowedModelEndpoints: spec.serving.env[0] (S3_ENDPOINT_URL)" in found
    # The endpoint rule holds on its own, without allowedModelUris.
    [found] = broken(spec(env(("AWS_ENDPOINT_URL", "http://evil:1"))), allowedModelEndpoints=[])
    assert "rule allowedModelEndpoints" in found


def test_an_endpoint_read_from_a_secret_cannot_be_judged() -> None:
    serving = {"env": [{"name": "AWS_ENDPOINT_URL_S3", "valueFrom": SECRET}]}
    [found] = broken(spec(serving), **WITH_STORE)
    assert "spec.serving.env[0] (AWS_ENDPOINT_URL_S3) is read from a Secret or ConfigMap" in found
    assert f"must be written as a value inside allowedModelEndpoints: {STORE}" in found


@pytest.mark.parametrize(
    "name", ["SSL_CERT_FILE", "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
             "AWS_ENDPOINT_URL_STS", "AWS_PROFILE", "S3_USE_PATH_STYLE"],
)  # fmt: skip
def test_what_changes_how_the_fetch_reaches_or_trusts_its_source_is_refused(name: str) -> None:
    [found] = broken(spec(env((name, "/etc/x"))), **WITH_STORE)
    assert found.startswith(
        f"policy production, rule allowedModelEndpoints: spec.serving.env[0] ({name}) is set; it "
        "changes how the model fetch reaches or trusts its source"
    )
    assert broken(spec(env((name, "/etc/x")))) == []


@pytest.mark.parametrize(
    ("rules", "rule"),
    [(URIS, "allowedModelUris"), ({"allowedImages": ["modeldeploy/"]}, "allowedImages")],
)
def test_env_from_without_a_prefix_is_refused_under_a_rule_on_sources_or_images(
    rules: dict[str, Any], rule: str
) -> None:
    serving = {"envFrom": [{"configMapRef": {"name": "tuning"}}]}
    assert broken(spec(serving)) == []
    [found] = broken(spec(serving), **rules)
    assert found == (
        f"policy production, rule {rule}: spec.serving.envFrom[0] is without a prefix; ConfigMap "
        "tuning could set PYTHONPATH among other names the operator never sees; give it a prefix "
        "that begins no reserved name (as APP_), or name each variable in spec.serving.env"
    )


def test_an_env_from_prefix_is_judged_by_the_names_its_keys_could_make() -> None:
    trust = {"envFrom": [{"prefix": "SSL_", "secretRef": {"name": "certs"}}]}
    [found] = broken(spec(trust), **URIS)
    assert "spec.serving.envFrom[0] is prefix SSL_; Secret certs could set SSL_CERT_FILE" in found
    assert broken(spec(trust), allowedImages=["modeldeploy/"]) == []
    # AWS_ makes credentials, and also AWS_CONFIG_FILE, whose credential_process runs a command.
    aws = {"envFrom": [{"prefix": "AWS_", "secretRef": {"name": "creds"}}]}
    [found] = broken(spec(aws), allowedImages=["modeldeploy/"])
    assert (
        "rule allowedImages: spec.serving.envFrom[0] is prefix AWS_; Secret creds could set "
        "AWS_CONFIG_FILE among other names the operator never sees" in found
    )
    assert broken(spec({"envFrom": [{"prefix": "APP_", "secretRef": {"name": "x"}}]}), **URIS) == []


@pytest.mark.parametrize(
    "path", ["/", "/usr", "/usr/local/lib/python3.11/site-packages/evil.pth", "/etc/hosts",
             "/etc/ld.so.preload", "/opt/venv", "/opt", "/lib64", "//etc/ssl/certs"],
)  # fmt: skip
def test_no_volume_is_mounted_over_what_an_image_runs(path: str) -> None:
    serving = {
        "volumes": [{"name": "v", "configMap": {"name": "x"}}],
        "volumeMounts": [{"name": "v", "mountPath": path, "subPath": "x"}],
    }
    assert broken(spec(serving)) == []
    [found] = broken(spec(serving), allowedImages=["modeldeploy/"])
    assert found.startswith(
        f"policy production, rule allowedImages: spec.serving.volumeMounts[0].mountPath is {path}; "
        "a volume there would replace files an image runs"
    )
    [found] = broken(spec(serving), **URIS)
    assert "rule allowedModelUris: spec.serving.volumeMounts[0].mountPath" in found


def test_a_mount_path_that_walks_back_is_refused_under_a_rule() -> None:
    serving = {
        "volumes": [{"name": "v", "emptyDir": {}}],
        "volumeMounts": [{"name": "v", "mountPath": "/data/../usr/lib"}],
    }
    [found] = broken(spec(serving), allowedImages=["modeldeploy/"])
    assert "mountPath is /data/../usr/lib; its path has a '..' segment" in found


FILE_RULES = {"allowedModelUris": ["file:///models/team-a/", "s3://models-prod/"]}


def mounted_at(path: str) -> dict[str, Any]:
    return {
        "volumes": [{"name": "mine", "persistentVolumeClaim": {"claimName": "mine"}}],
        "volumeMounts": [{"name": "mine", "mountPath": path}],
    }


def test_a_file_model_comes_only_from_a_path_the_policy_names() -> None:
    assert broken(spec(uri="file:///models/team-a/iris.joblib"), **FILE_RULES) == []
    [found] = broken(spec(uri="file:///models/team-b/iris.joblib"), **FILE_RULES)
    assert "rule allowedModelUris: spec.model.uri is file:///models/team-b/iris.joblib" in found
    # An s3:// entry allows no file://, and a file:// entry no other scheme.
    assert broken(spec(uri="file:///models/team-a/x"), **URIS) != []


@pytest.mark.parametrize("path", ["/models", "/models/team-a", "/models/team-a/sub", "/models/"])
def test_a_file_model_is_not_read_from_a_volume_of_the_specs_own(path: str) -> None:
    found = broken(spec(mounted_at(path), uri="file:///models/team-a/iris.joblib"), **FILE_RULES)
    assert len(found) == 1, found
    assert found[0].startswith(
        f"policy production, rule allowedModelUris: spec.serving.volumeMounts[0].mountPath is "
        f"{path}; a volume of the spec's own at, above or inside the allowed path"
    )


def test_a_volume_beside_the_allowed_path_is_the_specs() -> None:
    model_spec = spec(mounted_at("/models/team-b"), uri="file:///models/team-a/iris.joblib")
    assert broken(model_spec, **FILE_RULES) == []
    assert broken(spec(mounted_at("/models/team-a")), **FILE_RULES) == []  # an s3:// model


def test_an_image_is_judged_by_its_parts() -> None:
    rules = {"allowedImages": ["registry.example.com/ml/"]}
    assert broken(spec({"image": "registry.example.com/ml/server:1"}), **rules) == []
    for image in ("registry.example.com/ml-evil/x", "registry.example.com.evil.io/ml/x"):
        [found] = broken(spec({"image": image}), **rules)
        assert found == (
            f"policy production, rule allowedImages: spec.serving.image is {image}; in none of "
            "the allowed: registry.example.com/ml/ (compared by registry, whole repository path "
            "components, tag and digest)"
        )
    [found] = broken(spec({"image": "Registry/ML"}), **rules)
    assert "no image reference: 'ML' is no repository path component" in found


def test_a_model_uri_that_cannot_be_read_one_way_only_is_refused() -> None:
    [found] = broken(spec(uri="s3://models-prod/a/../../other/x"), **URIS)
    assert (
        "spec.model.uri is s3://models-prod/a/../../other/x; its path has a '..' segment" in found
    )
    [found] = broken(spec(uri="s3://models-prod-evil/x"), **URIS)
    assert "inside none of the allowed locations: s3://models-prod/" in found


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ({"allowedModelUris": ["s3://"]},
         "spec.rules.allowedModelUris[0]: s3:// is no allowed entry: an s3:// URI needs a bucket"),
        ({"allowedModelUris": ["s3://ok/", "models-prod/"]},
         "spec.rules.allowedModelUris[1]: models-prod/ is no allowed entry: its scheme"),
        ({"allowedModelEndpoints": ["s3://bucket"]},
         "spec.rules.allowedModelEndpoints[0]: s3://bucket is no allowed entry: its scheme must "
         "be one of http://, https://"),
        ({"allowedModelEndpoints": ["http://user:pw@proxy:3128"]}, "userinfo"),
        ({"allowedImages": ["registry.example.com/ML/"]},
         "spec.rules.allowedImages[0]: registry.example.com/ML/ is no allowed entry"),
    ],
)  # fmt: skip
def test_an_entry_that_cannot_be_parsed_makes_the_policy_invalid(
    rules: dict[str, Any], problem: str
) -> None:
    problems = policy_problems(parse_policy_spec({"rules": rules}))
    assert len(problems) == 1 and problem in problems[0], problems


NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), NAME)
@example("LD_PRE", "LOAD")
@example("ssl_cert_", "FILE")
@example("AWS_ENDPOINT_URL_", "STS")
@example("HTTP", "S_PROXY")
def test_a_prefix_reaches_every_class_a_name_it_makes_is_in(prefix: str, key: str) -> None:
    env_class, _why = classify(prefix + key)
    if env_class is not EnvClass.FREE:
        assert env_class in prefix_reaches(prefix), (prefix, key)


@given(NAME)
def test_no_prefix_reaches_every_class(key: str) -> None:
    assert set(prefix_reaches("")) == set(EnvClass) - {EnvClass.FREE}


def test_system_paths_are_absolute() -> None:
    assert all(path.startswith("/") and path.count("/") == 1 for path in SYSTEM_PATHS)
