"""From a pod's container to the local process that stands in for it (no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e.localcluster.node_agent.expansion import expand
from e2e.localcluster.node_agent.image_map import ImageMap, ImageRule, render_template
from e2e.localcluster.node_agent.quantity import divide_ceil

Manifest = Mapping[str, Any]
# (namespace, name) -> the object's data (decoded, for Secrets), or None when it does not exist.
DataLookup = Callable[[str, str], Mapping[str, str] | None]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ContainerConfigError(Exception):
    """The container cannot be started yet; the kubelet reports CreateContainerConfigError."""


@dataclass(frozen=True)
class PodContext:
    """What the agent knows about a pod beyond its manifest."""

    pod_ip: str
    host_ip: str
    node_name: str
    workdir: str
    python: str

    def template_values(self, pod: Manifest) -> dict[str, str]:
        meta = pod.get("metadata", {})
        return {
            "python": self.python,
            "pod_ip": self.pod_ip,
            "pod_name": str(meta.get("name", "")),
            "namespace": str(meta.get("namespace", "")),
            "workdir": self.workdir,
        }


@dataclass(frozen=True)
class ProcessSpec:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


def image_id(image: str, rule: ImageRule) -> str:
    """A stable digest of the image and what runs it, standing in for a registry digest."""
    digest = hashlib.sha256(repr((image, rule)).encode()).hexdigest()
    return f"localprocess://{image}@sha256:{digest}"


def unmapped_image_message(image: str, image_map: ImageMap) -> str:
    return (
        f'image "{image}" has no local mapping: no rule of the image map {image_map.source} '
        "matches it, so the node agent has nothing to run"
    )


def _field_value(path: str, pod: Manifest, ctx: PodContext) -> str:
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": ctx.node_name,
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": ctx.pod_ip,
        "status.podIPs": ctx.pod_ip,
        "status.hostIP": ctx.host_ip,
        "status.hostIPs": ctx.host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_FIELD.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise ContainerConfigError(f"unsupported fieldRef {path!r}")


# Used when a container sets no limit: the kubelet then reports the node's allocatable.
NODE_ALLOCATABLE = {"cpu": "8", "memory": "16Gi", "ephemeral-storage": "100Gi"}


def _resource_value(ref: Manifest, container: Manifest) -> str:
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:
        value = (resources.get("limits") or {}).get(name) if kind == "requests" else None
    if value is None:
        if name not in NODE_ALLOCATABLE:
            raise ContainerConfigError(f"unsupported resourceFieldRef {resource!r}")
        value = NODE_ALLOCATABLE[name]
    return divide_ceil(str(value), ref.get("divisor"))


def _key_ref(ref: Manifest, kind: str, namespace: str, lookup: DataLookup) -> str | None:
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    data = lookup(namespace, name)
    if data is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{name}" not found')
    if key not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def resolve_env(
    pod: Manifest,
    container: Manifest,
    ctx: PodContext,
    *,
    configmaps: DataLookup,
    secrets: DataLookup,
    initial: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """envFrom, then env, in order, each value expanded against the variables before it.

    `initial` holds what the image defines; the pod's own variables override it.
    """
    namespace = str(pod.get("metadata", {}).get("namespace", "default"))
    env: dict[str, str] = dict(initial or {})
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        if "configMapRef" in source:
            ref, kind, lookup = source["configMapRef"], "configmap", configmaps
        elif "secretRef" in source:
            ref, kind, lookup = source["secretRef"], "secret", secrets
        else:
            continue
        data = lookup(namespace, ref.get("name", ""))
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f'{kind} "{ref.get("name", "")}" not found')
        for key, item in data.items():
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = item
    for var in container.get("env") or []:
        name = str(var.get("name", ""))
        if "value" in var or "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = _field_value(str(source["fieldRef"].get("fieldPath", "")), pod, ctx)
        elif "resourceFieldRef" in source:
            value = _resource_value(source["resourceFieldRef"], container)
        elif "configMapKeyRef" in source:
            value = _key_ref(source["configMapKeyRef"], "configmap", namespace, configmaps)
        elif "secretKeyRef" in source:
            value = _key_ref(source["secretKeyRef"], "secret", namespace, secrets)
        else:
            raise ContainerConfigError(f"unsupported valueFrom for {name}: {sorted(source)}")
        if value is not None:
            env[name] = value
    return env


def image_env(rule: ImageRule, values: Mapping[str, str]) -> dict[str, str]:
    return {k: render_template(v, values) for k, v in rule.env}


def build_argv(
    container: Manifest,
    rule: ImageRule,
    image_map: ImageMap,
    values: Mapping[str, str],
    env: Mapping[str, str],
) -> list[str]:
    """Docker semantics: `command` replaces the entrypoint (and drops cmd), `args` replace cmd."""
    entrypoint = [render_template(part, values) for part in rule.entrypoint]
    cmd = [render_template(part, values) for part in rule.cmd]
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    if command:
        argv = command + args
    elif args:
        argv = entrypoint + args
    else:
        argv = entrypoint + cmd
    return localize_command(argv, image_map, values)


def localize_command(
    argv: Sequence[str], image_map: ImageMap, values: Mapping[str, str]
) -> list[str]:
    """Maps the first word through the image map's `commands` (python -> the local interpreter)."""
    rewritten = image_map.rewrite_command(argv)
    if rewritten:
        rewritten[0] = render_template(rewritten[0], values)
    return rewritten


def container_port(container: Manifest, port: Any) -> int:
    """A probe's or hook's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for declared in container.get("ports") or []:
        if declared.get("name") == text:
            return int(declared["containerPort"])
    raise ContainerConfigError(f"container has no port named {text!r}")
