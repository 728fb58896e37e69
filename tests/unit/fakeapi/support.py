"""Raw HTTP against the fake server, and the custom resource types the tests register."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.fakeapi import FakeApiServer, custom_resource

GROUP, VERSION = "modeldeploy.io", "v1alpha1"
MODEL = custom_resource(
    GROUP, VERSION, "modeldeployments", "ModelDeployment", short_names=("mdep",)
)
POLICY = custom_resource(
    GROUP, VERSION, "clusterrolloutpolicies", "ClusterRolloutPolicy", namespaced=False, status=False
)
MODELS = f"/apis/{GROUP}/{VERSION}/namespaces/default/modeldeployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]


def call(
    server: FakeApiServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    content_type: str = "application/json",
    query: dict[str, str] | None = None,
) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        target = path + ("?" + urlencode(query) if query else "")
        data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        connection.request(method, target, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        parsed: Any = raw.decode()
        if response.getheader("Content-Type", "").startswith("application/json"):
            parsed = json.loads(raw)
        return Response(response.status, parsed, dict(response.getheaders()))
    finally:
        connection.close()


def model(name: str, spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "default", **metadata},
        "spec": spec if spec is not None else {"model": "m", "replicas": 1},
    }


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


class WatchStream:
    """A raw watch: each `next()` blocks (up to the socket timeout) for the next event."""

    def __init__(self, server: FakeApiServer, path: str, timeout: float = 5.0, **query: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        self.connection.request("GET", path + "?" + urlencode({"watch": "true", **query}))
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())

    def next(self) -> dict[str, Any] | None:
        """The next event, or None once the server ended the stream."""
        line = self.response.readline()
        return json.loads(line) if line else None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (event := self.next()) is not None:
            yield event

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
