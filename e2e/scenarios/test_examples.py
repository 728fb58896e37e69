"""Every ModelDeployment under examples/ serves on the local cluster as it is written, applied
the way a user applies it: `kubectl apply -f examples/iris.yaml`, and the folder that Argo CD
or Flux syncs, `kubectl apply -k examples/gitops/models`, once the Secret it reads its
credentials from exists (made outside git). The cluster put their models into its store when
it started."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.example_models import EXAMPLES, credentials_secret, example_models, model_deployments
from e2e.fixtures import Cluster, wait_for
from e2e.rollouts import status_of

# Ten serving pods that ask for the operator's default share of a core, most of the local
# node's two: tests beside them would wait Pending for room, so it runs alone.
pytestmark = [pytest.mark.cluster, pytest.mark.disruptive]

GITOPS_MODELS = EXAMPLES / "gitops" / "models"


def ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        status = status_of(cluster, namespace, name)
    except ApiException:
        return None
    return status if status.get("phase") == "Ready" else None


def test_every_example_serves_as_written(cluster: Cluster, operator: Any, namespace: str) -> None:
    iris = EXAMPLES / "iris.yaml"
    cluster.kubectl("apply", "-n", namespace, "-f", str(iris))
    expected = [(namespace, m["metadata"]["name"]) for m in model_deployments(iris)]

    # The gitops folder names its own namespace.
    synced = [m for path in sorted(GITOPS_MODELS.glob("*.yaml")) for m in model_deployments(path)]
    (gitops_namespace,) = {m["metadata"]["namespace"] for m in synced}
    cluster.kubectl("apply", "-f", str(GITOPS_MODELS / "namespace.yaml"))
    try:
        secret = credentials_secret(cluster.model_store, gitops_namespace)
        cluster.kubectl("apply", "-f", "-", input_text=json.dumps(secret))
        cluster.kubectl("apply", "-k", str(GITOPS_MODELS))
        expected += [(gitops_namespace, m["metadata"]["name"]) for m in synced]

        # Every example is here, and every model they name was stored for them.
        named = {e.example for e in example_models()}
        assert named == {iris, *(GITOPS_MODELS / f for f in ("fraud.yaml", "churn.yaml"))}
        for where, name in expected:

            def is_ready(where: str = where, name: str = name) -> dict[str, Any] | None:
                return ready(cluster, where, name)

            status = wait_for(is_ready, 240, f"{where}/{name} Ready")
            serving, wanted = status["ready"].split("/")
            assert serving == wanted, status
    finally:
        with contextlib.suppress(ApiException):
            cluster.core.delete_namespace(gitops_namespace, _preload_content=False)
