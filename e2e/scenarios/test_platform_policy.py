"""A platform team's ClusterRolloutPolicy at work: a namespace labelled `tier: production` gets
the production defaults, an object breaking a rule is refused by `kubectl apply`, and a rollback
reaches the team's webhook receiver with the failing check."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e.fixtures import Cluster, apply_model_deployment, wait_for
from e2e.model_store import ENDPOINT_ENV, stored
from e2e.models import TrainedModel, train_classifier, train_failing_on_negatives
from e2e.operator_install import NAMESPACE as OPERATOR_NAMESPACE
from e2e.rollouts import client_traffic, status_of, wait_new_revision, wait_outcome, wait_ready

pytestmark = pytest.mark.cluster

NAME = "fraud"
POLICY = "production"
PRODUCTION_DEFAULTS = {
    "rollout": {
        "stepWeights": [25, 50],
        "interval": "4s",
        "scaleDownDelay": "2s",
        "checks": [{"name": "error-rate", "max": 0.05}],
    }
}


class Receiver:
    """A webhook receiver inside the cluster's network namespace, where pods reach it at the
    node's address."""

    def __init__(self, cluster: Cluster) -> None:
        self.messages: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.messages.setdefault(self.path, []).append(body)
                self.send_response(204)
                self.end_headers()

        self.server = cluster.netns.call(lambda: ThreadingHTTPServer(("0.0.0.0", 0), Handler))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        node: Any = cluster.core.list_node().items[0]
        address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
        self.base = f"http://{address}:{self.server.server_address[1]}"

    def received(self, path: str) -> list[Any]:
        with self._lock:
            return list(self.messages.get(path, []))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(cluster: Cluster) -> Iterator[Receiver]:
    running = Receiver(cluster)
    yield running
    running.close()


@pytest.fixture
def production(cluster: Cluster, namespace: str, receiver: Receiver) -> Iterator[str]:
    """The platform team's policy, its notification URL in a Secret beside the operator."""
    cluster.kubectl("label", "namespace", namespace, "tier=production")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "platform-hooks", "namespace": OPERATOR_NAMESPACE},
        "stringData": {"url": f"{receiver.base}/platform"},
    }
    policy = {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ClusterRolloutPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "namespaceSelector": {"matchLabels": {"tier": "production"}},
            "priority": 100,
            "defaults": PRODUCTION_DEFAULTS,
            "rules": {"requireRollout": True, "requiredChecks": ["error-rate"],
                      "maxStepWeight": 50, "minInterval": "2s"},
            "notifications": [{"name": "platform", "webhook": {
                "urlFrom": {"secretKeyRef": {"name": "platform-hooks", "key": "url"}}}}],
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all([secret, policy]))
    yield POLICY
    with contextlib.suppress(AssertionError):
        cluster.kubectl("delete", "clusterrolloutpolicy", POLICY, "--ignore-not-found")
        cluster.kubectl("delete", "secret", "platform-hooks", "-n", OPERATOR_NAMESPACE)


def manifest(
    model: TrainedModel, version: str, receiver: Receiver, **rollout: Any
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": "iris", "version": version, "uri": model.uri, "format": "sklearn",
                  "sha256": model.sha256},
        "replicas": 2,
        "serving": {"startupTimeout": "1m", "env": [ENDPOINT_ENV]},
        # The team's own channel, Slack-style, beside the platform's.
        "notifications": [{"name": "team", "webhook": {"url": f"{receiver.base}/team",
                                                       "format": "slack"}}],
    }  # fmt: skip
    if rollout:
        spec["rollout"] = rollout
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": spec,
    }


def test_a_production_namespace_runs_the_platforms_policy(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    production: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    good = stored(cluster.model_store, train_classifier(tmp_path / "v1.joblib", seed=1), "p/v1")
    failing = stored(
        cluster.model_store, train_failing_on_negatives(tmp_path / "v2.joblib", seed=2), "p/v2"
    )
    apply_model_deployment(cluster, namespace, manifest(good, "v1", receiver))
    status = wait_ready(cluster, namespace, NAME)
    assert status["policy"] == {"name": production, "generation": 1}

    # A step above the policy's largest is refused at apply, naming policy, rule and value.
    bold = manifest(failing, "v2", receiver, stepWeights=[75])
    bold["metadata"]["namespace"] = namespace
    with pytest.raises(AssertionError) as refused:
        cluster.kubectl("apply", "-f", "-", input_text=yaml.safe_dump(bold))
    assert f"policy {production}, rule maxStepWeight: spec.rollout.stepWeights[0] is 75" in str(
        refused.value
    )

    # The version says nothing of its rollout: the production defaults ramp it, their
    # error-rate check rolls it back, and both webhooks hear of it.
    with client_traffic(cluster, namespace, NAME):
        apply_model_deployment(cluster, namespace, manifest(failing, "v2", receiver))
        canary = wait_new_revision(cluster, namespace, NAME, status["stable"]["revision"])
        outcome = wait_outcome(cluster, namespace, NAME, canary, timeout=180)
    assert outcome["phase"] == "RolledBack", outcome
    assert outcome.get("rollout") is None and outcome["rolledBack"]["revision"] == canary
    assert "error-rate" in outcome["rolledBack"]["reason"]

    def rolled_back(path: str) -> list[Any]:
        return [m for m in receiver.received(path) if "rolled back" in json.dumps(m)]

    platform = wait_for(
        lambda: [m for m in receiver.received("/platform") if m.get("kind") == "rolled-back"],
        30,
        "the rollback at the platform's receiver",
    )[0]
    assert (platform["namespace"], platform["name"]) == (namespace, NAME)
    assert (platform["revision"], platform["version"]) == (canary, "v2")
    assert platform["policy"] == {"name": production, "generation": 1}
    [check] = [c for c in platform["checks"] if c["name"] == "error-rate"]
    assert check["verdict"] == "Fail" and check["value"] > 0.05
    kinds = [m["kind"] for m in receiver.received("/platform")]
    assert kinds.index("rollout-started") < kinds.index("rolled-back"), kinds
    team = wait_for(lambda: rolled_back("/team"), 30, "the rollback at the team's receiver")[0]
    assert set(team) == {"text"} and "error-rate" in team["text"]
    assert status_of(cluster, namespace, NAME)["stable"]["version"] == "v1"
