"""Helpers for the tests that run against a local cluster."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as exc:
            last = f"ApiException {exc.status}"
        else:
            if last:
                return last  # type: ignore[no-any-return]
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last: {last!r}")


class Api:
    """Typed-free JSON access to the cluster, as the tests need it."""

    def __init__(self, api_client: Any) -> None:
        self.client = api_client
        self.core: Any = client.CoreV1Api(api_client)
        self.apps: Any = client.AppsV1Api(api_client)
        self.discovery: Any = client.DiscoveryV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.ext: Any = client.ApiextensionsV1Api(api_client)
        self.coordination: Any = client.CoordinationV1Api(api_client)

    @staticmethod
    def json(response: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(response.data)
        return data

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.json(self.core.read_namespaced_pod(name, namespace, _preload_content=False))

    def pods(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        data = self.json(
            self.core.list_namespaced_pod(
                namespace, label_selector=selector, _preload_content=False
            )
        )
        return list(data["items"])

    def pod_exists(self, namespace: str, name: str) -> bool:
        try:
            self.core.read_namespaced_pod(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def create(self, namespace: str, manifest: dict[str, Any]) -> None:
        kind = manifest["kind"]
        if kind == "Pod":
            self.core.create_namespaced_pod(namespace, manifest, _preload_content=False)
        elif kind == "Service":
            self.core.create_namespaced_service(namespace, manifest, _preload_content=False)
        elif kind == "ConfigMap":
            self.core.create_namespaced_config_map(namespace, manifest, _preload_content=False)
        elif kind == "Secret":
            self.core.create_namespaced_secret(namespace, manifest, _preload_content=False)
        elif kind == "Deployment":
            self.apps.create_namespaced_deployment(namespace, manifest, _preload_content=False)
        elif kind == "HTTPRoute":
            self.custom.create_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", namespace, "httproutes", manifest
            )
        else:
            raise ValueError(kind)

    def create_yaml(self, namespace: str, text: str) -> None:
        for doc in yaml.safe_load_all(text):
            if doc:
                self.create(namespace, doc)

    def slices(self, namespace: str, service: str) -> list[dict[str, Any]]:
        data = self.json(
            self.discovery.list_namespaced_endpoint_slice(
                namespace,
                label_selector=f"kubernetes.io/service-name={service}",
                _preload_content=False,
            )
        )
        return list(data["items"])

    def events(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        data = self.json(
            self.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={pod}", _preload_content=False
            )
        )
        return list(data["items"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return {}


def container_status(pod: dict[str, Any], index: int = 0) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return dict(statuses[index]) if len(statuses) > index else {}


def pids_with_arg(needle: str) -> list[int]:
    """Live processes with needle among their command-line arguments."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle.encode() in args:
            found.append(int(entry))
    return found
