"""Environment names no spec sets (the operator's own, and those that change the code the
serving image runs), and the names that stay the spec's."""

import re
from pathlib import Path
from typing import Any

import pytest

from modeldeploy.api.envnames import (
    CREDENTIAL_NAMES,
    USER_SERVING_NAMES,
    EnvClass,
    classify,
    prefix_class,
)
from modeldeploy.validation import InvalidSpec, load_spec

SERVING_IMAGE = Path(__file__).resolve().parents[2] / "serving-image" / "modeldeploy_serving"
MODEL = {"name": "iris", "version": "v1", "uri": "s3://models/iris", "format": "sklearn"}


def load(**serving: Any) -> Any:
    return load_spec({"model": MODEL, "serving": serving})


def refusal(**serving: Any) -> str:
    with pytest.raises(InvalidSpec) as refused:
        load(**serving)
    return str(refused.value)


@pytest.mark.parametrize(
    "name",
    ["PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "pythonpath", "LD_PRELOAD", "LD_LIBRARY_PATH",
     "OPENSSL_CONF", "OPENSSL_MODULES", "GCONV_PATH", "PATH", "HOME", "AWS_CONFIG_FILE",
     "AWS_SHARED_CREDENTIALS_FILE"],
)  # fmt: skip
def test_a_name_that_changes_the_code_the_image_runs_is_refused(name: str) -> None:
    from_config = {"configMapKeyRef": {"name": "c", "key": "k"}}
    for var in ({"name": name, "value": "/mnt/x"}, {"name": name, "valueFrom": from_config}):
        assert refusal(env=[{"name": "OK", "value": "1"}, var]) == (
            f"spec.serving.env[1] ({name}): no spec sets this name: it changes the code the "
            "serving image runs; other code is another image (spec.serving.image)"
        )


@pytest.mark.parametrize(
    "name", ["SERVING_PORT", "SERVING_HOST", "SERVING_SHADOW_TARGET_SUFFIXES", "SERVING_NEW"]
)
def test_the_operators_own_serving_settings_are_refused(name: str) -> None:
    said = refusal(env=[{"name": name, "value": "1"}])
    assert said.startswith(
        f"spec.serving.env[0] ({name}): no spec sets this name: the operator sets the serving "
        "image's model and server settings from the spec; the serving image's settings a spec "
        "may tune are SERVING_ACCESS_LOG, SERVING_DRAIN_SECONDS"
    )


def test_what_the_readme_and_the_local_clusters_scenarios_set_is_taken() -> None:
    secret = {"secretKeyRef": {"name": "reader", "key": "k"}}
    env = [
        {"name": "SERVING_MAX_REQUESTS_PER_CONNECTION", "value": "10"},
        {"name": "SERVING_RESPONSE_DELAY_MS", "value": "250"},
        {"name": "AWS_ENDPOINT_URL_S3", "value": "http://s3.model-store.svc.cluster.local:9000"},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": secret},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": secret},
        # Where no policy restricts model sources, a proxy and a CA bundle are the spec's.
        {"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"},
        {"name": "NO_PROXY", "value": ".svc"},
        {"name": "SSL_CERT_FILE", "value": "/mnt/ca/ca.pem"},
        {"name": "LOG_LEVEL", "value": "DEBUG"},
    ]
    env += [
        {"name": name, "value": "1"}
        for name in sorted(USER_SERVING_NAMES - {var["name"] for var in env})
    ]
    load(env=env, envFrom=[{"configMapRef": {"name": "tuning"}}])


@pytest.mark.parametrize(
    "prefix", ["LD_", "PYTHON", "python_", "OPENSSL_", "SERVING_", "SERVING_MAX_"]
)
def test_an_env_from_prefix_under_a_reserved_one_is_refused(prefix: str) -> None:
    said = refusal(envFrom=[{"prefix": prefix, "configMapRef": {"name": "c"}}])
    assert said.startswith(
        f"spec.serving.envFrom[0].prefix ({prefix}): every name it makes is one no spec sets"
    )


@pytest.mark.parametrize("prefix", ["APP_", "P", "LD", "AWS_", "SSL_", "TUNING_"])
def test_any_other_prefix_is_left_to_a_policy(prefix: str) -> None:
    load(envFrom=[{"prefix": prefix, "secretRef": {"name": "s"}}])


def test_the_model_prefix_is_refused_as_before() -> None:
    with pytest.raises(InvalidSpec, match="names starting with MODEL_ are set by the operator"):
        load(envFrom=[{"prefix": "MODEL_", "configMapRef": {"name": "c"}}])


def test_prefix_class_is_the_class_of_every_name_it_makes() -> None:
    for prefix in ("LD_", "PYTHONX", "AWS_", "SSL_", "S3_", "MODEL_"):
        env_class, _why = prefix_class(prefix)
        for key in ("A", "PRELOAD", "ENDPOINT_URL", "Z_9"):
            made, _why = classify(prefix + key)
            assert made is env_class or made is EnvClass.FREE or env_class is EnvClass.FETCH


def names_the_serving_image_reads() -> set[str]:
    """Every environment name the serving image's source reads."""
    pattern = re.compile(r"""(?:get|required|environ\.get|getenv)\(\s*"([A-Z][A-Z0-9_]+)\"""")
    names: set[str] = set()
    for source in SERVING_IMAGE.rglob("*.py"):
        names |= set(pattern.findall(source.read_text()))
    return names


def test_every_name_the_serving_image_reads_is_classified() -> None:
    read = names_the_serving_image_reads()
    assert {"MODEL_URI", "SERVING_PORT", "S3_ENDPOINT_URL", "AWS_CA_BUNDLE"} <= read, read
    the_specs = USER_SERVING_NAMES | CREDENTIAL_NAMES | {"LOG_LEVEL"}
    for name in read - the_specs:
        assert classify(name)[0] is not EnvClass.FREE, name
    for name in the_specs:
        assert classify(name)[0] is EnvClass.FREE, name
