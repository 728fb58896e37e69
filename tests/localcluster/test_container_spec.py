from typing import Any

import pytest

from e2e.localcluster.node_agent.container_spec import (
    ContainerConfigError,
    PodContext,
    build_argv,
    container_port,
    image_env,
    resolve_env,
    unmapped_image_message,
)
from e2e.localcluster.node_agent.image_map import load_image_map, parse_image_map

CTX = PodContext(
    pod_ip="127.20.0.7",
    host_ip="127.0.0.1",
    node_name="localnode",
    workdir="/state/pods/x/work",
    python="/venv/bin/python",
)
POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": "hi"},
    },
    "spec": {"serviceAccountName": "default"},
}
CONFIGMAPS = {("shop", "settings"): {"MODE": "fast", "LEVEL": "3"}}
SECRETS = {("shop", "creds"): {"token": "s3cret"}}


def _configmap(namespace: str, name: str) -> dict[str, str] | None:
    return CONFIGMAPS.get((namespace, name))


def _secret(namespace: str, name: str) -> dict[str, str] | None:
    return SECRETS.get((namespace, name))


def env_of(container: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return resolve_env(POD, container, CTX, configmaps=_configmap, secrets=_secret, **kwargs)


def test_field_refs() -> None:
    fields = [
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "metadata.labels['app']",
        "metadata.annotations['note']",
        "status.podIP",
        "status.hostIP",
        "spec.nodeName",
        "spec.serviceAccountName",
    ]
    container = {
        "env": [
            {"name": f"V{i}", "valueFrom": {"fieldRef": {"fieldPath": f}}}
            for i, f in enumerate(fields)
        ]
    }
    env = env_of(container)
    assert [env[f"V{i}"] for i in range(len(fields))] == [
        "web-1",
        "shop",
        "u-1",
        "web",
        "hi",
        "127.20.0.7",
        "127.0.0.1",
        "localnode",
        "default",
    ]


def test_config_and_secret_refs_and_env_from() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CM_"}],
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
            {
                "name": "OPTIONAL",
                "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}},
            },
        ],
    }
    env = env_of(container)
    assert env["CM_MODE"] == "fast" and env["CM_LEVEL"] == "3"
    assert env["TOKEN"] == "s3cret" and env["MODE"] == "fast"
    assert "OPTIONAL" not in env


def test_missing_required_refs_are_config_errors() -> None:
    with pytest.raises(ContainerConfigError, match='configmap "nope" not found'):
        env_of(
            {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}
        )
    with pytest.raises(ContainerConfigError, match="couldn't find key"):
        env_of(
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}
        )
    with pytest.raises(ContainerConfigError):
        env_of({"envFrom": [{"secretRef": {"name": "absent"}}]})


def test_values_expand_earlier_variables_and_override_the_image() -> None:
    container = {
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "URL", "value": "http://$(IP):$(PORT)/"},
            {"name": "IMAGE_SET", "value": "from-pod"},
        ]
    }
    env = env_of(container, initial={"PORT": "9000", "IMAGE_SET": "from-image"})
    assert env["URL"] == "http://127.20.0.7:9000/"
    assert env["IMAGE_SET"] == "from-pod"


def test_resource_field_ref_uses_limits_then_node_allocatable() -> None:
    container = {
        "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m"}},
        "env": [
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {
                "name": "CPU",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    env = env_of(container)
    assert (env["MEM"], env["CPU"], env["CPUS"]) == ("1024", "250", "8")


IMAGE_MAP = parse_image_map(
    {
        "images": [{"image": "app:*", "entrypoint": ["{python}", "-m", "app"], "cmd": ["serve"]}],
        "commands": {"python": "{python}"},
    }
)
RULE = IMAGE_MAP.rules[0]
VALUES = CTX.template_values(POD)


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        ({}, ["/venv/bin/python", "-m", "app", "serve"]),
        ({"args": ["check", "$(X)"]}, ["/venv/bin/python", "-m", "app", "check", "1"]),
        ({"command": ["sleep"]}, ["sleep"]),
        (
            {"command": ["python", "-c"], "args": ["print($(X))"]},
            ["/venv/bin/python", "-c", "print(1)"],
        ),
    ],
)
def test_docker_semantics_for_command_and_args(container: dict[str, Any], argv: list[str]) -> None:
    assert build_argv(container, RULE, IMAGE_MAP, VALUES, {"X": "1"}) == argv


def test_image_env_is_templated() -> None:
    rule = load_image_map().resolve("modeldeploy/serving:0.1.0")
    assert rule is not None
    assert image_env(rule, VALUES)["SERVING_HOST"] == "127.20.0.7"


def test_named_and_numeric_ports() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert container_port(container, "http") == 8080
    assert container_port(container, 9090) == 9090
    assert container_port(container, "9091") == 9091
    with pytest.raises(ContainerConfigError):
        container_port(container, "metrics")


def test_unmapped_message_names_the_image() -> None:
    message = unmapped_image_message("nginx:1.27", IMAGE_MAP)
    assert '"nginx:1.27"' in message and "no local mapping" in message
