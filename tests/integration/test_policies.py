"""ClusterRolloutPolicies against the real API server and the chart-installed operator: every
rule and each class of bad object refused at `kubectl apply`, defaults shaping the rollout,
overlapping policies, a policy changed mid-rollout, and a policy that arrives while the
webhook is down."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from e2e.fixtures import (
    Cluster,
    apply_model_deployment,
    get_model_deployment,
    wait_for,
)
from e2e.localcluster.addons import MODEL_STORE_URL
from e2e.model_store import ENDPOINT_ENV, stored
from e2e.models import TrainedModel, train_classifier
from e2e.rollouts import events_with_reason, status_of, wait_outcome, wait_ready

pytestmark = pytest.mark.cluster

NAME = "fraud"
TIER_LABEL = "modeldeploy.io/test-tier"
SHA = "0" * 64
ApplyPolicy = Callable[..., str]


@pytest.fixture(scope="module")
def trained(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    model = train_classifier(tmp_path_factory.mktemp("models") / "fraud.joblib")
    return stored(cluster.model_store, model, "policies/fraud/model.joblib")


@pytest.fixture
def tier(cluster: Cluster, namespace: str) -> str:
    """A label value only this test's namespace carries, so that its policies select it alone."""
    value = f"t{uuid.uuid4().hex[:8]}"
    cluster.kubectl("label", "namespace", namespace, f"{TIER_LABEL}={value}")
    return value


@pytest.fixture
def apply_policy(cluster: Cluster) -> Iterator[ApplyPolicy]:
    made: list[str] = []

    def apply(
        tier: str,
        name: str | None = None,
        priority: int = 0,
        defaults: dict[str, Any] | None = None,
        rules: dict[str, Any] | None = None,
    ) -> str:
        policy_name = name or f"policy-{tier}"
        spec: dict[str, Any] = {
            "namespaceSelector": {"matchLabels": {TIER_LABEL: tier}},
            "priority": priority,
        }
        if defaults is not None:
            spec["defaults"] = defaults
        if rules is not None:
            spec["rules"] = rules
        cluster.kubectl(
            "apply", "-f", "-", input_text=yaml.safe_dump(policy_manifest(policy_name, spec))
        )
        made.append(policy_name)
        return policy_name

    yield apply
    for name in made:
        with contextlib.suppress(AssertionError):
            cluster.kubectl("delete", "clusterrolloutpolicy", name, "--ignore-not-found")


def policy_manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ClusterRolloutPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def model_deployment(
    model: TrainedModel | None = None,
    version: str = "v1",
    replicas: int = 0,
    rollout: dict[str, Any] | None = None,
    **model_fields: Any,
) -> dict[str, Any]:
    uri = model.uri if model is not None else "s3://models-prod/fraud/model.joblib"
    spec: dict[str, Any] = {
        "model": {
            "name": "fraud",
            "version": version,
            "uri": uri,
            "format": "sklearn",
            **({"sha256": model.sha256} if model is not None else {}),
            **model_fields,
        },
        "replicas": replicas,
        "serving": {"startupTimeout": "2m", "env": [ENDPOINT_ENV]},
    }
    if rollout is not None:
        spec["rollout"] = rollout
    return {
        "apiVersion": "modeldeploy.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": spec,
    }


def refusal(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    """What `kubectl apply` (a server-side dry run) says when it refuses the object."""
    if manifest["kind"] == "ModelDeployment":
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    try:
        cluster.kubectl("apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump(manifest))
    except AssertionError as error:
        return str(error)
    raise AssertionError(f"kubectl apply accepted {json.dumps(manifest['spec'])}")


EVERY_RULE = {
    "requireRollout": True,
    "requireSha256": True,
    "requiredChecks": ["error-rate"],
    "maxStepWeight": 25,
    "minInterval": "30s",
    "allowedModelUris": ["s3://models-prod/"],
    "allowedModelEndpoints": [MODEL_STORE_URL],
    "allowedImages": ["modeldeploy/"],
    "maxReplicas": 5,
}
ERROR_RATE = {"name": "error-rate", "max": 0.01}
COMPLIANT_ROLLOUT = {"stepWeights": [10, 25], "interval": "30s", "checks": [ERROR_RATE]}


@pytest.mark.parametrize(
    ("breaking", "expected"),
    [
        ({"rollout": None}, "rule requireRollout: spec.rollout is absent"),
        ({"sha256": None}, "rule requireSha256: spec.model.sha256 is absent"),
        ({"checks": []}, "rule requiredChecks: spec.rollout.checks is without error-rate"),
        ({"checks": [{"name": "error-rate", "max": 0.5}]},
         "rule requiredChecks: spec.rollout.checks[0] (error-rate) is max=0.5; bounds may only "
         "tighten: max must be at most 0.01"),
        ({"stepWeights": [10, 50]},
         "rule maxStepWeight: spec.rollout.stepWeights[1] is 50; no step may exceed 25"),
        ({"interval": "10s"}, "rule minInterval: spec.rollout.interval is 10s"),
        ({"uri": "s3://scratch/fraud.joblib"},
         "rule allowedModelUris: spec.model.uri is s3://scratch/fraud.joblib"),
        ({"uri": "s3://models-prod-evil/fraud.joblib"},
         "rule allowedModelUris: spec.model.uri is s3://models-prod-evil/fraud.joblib"),
        ({"env": [{"name": "AWS_ENDPOINT_URL_S3", "value": "http://elsewhere.example.com:9000"}]},
         "rule allowedModelEndpoints: spec.serving.env[0] (AWS_ENDPOINT_URL_S3) is "
         "http://elsewhere.example.com:9000"),
        ({"image": "docker.io/someone/serving:1"},
         "rule allowedImages: spec.serving.image is docker.io/someone/serving:1"),
        ({"replicas": 6}, "rule maxReplicas: spec.replicas is 6; at most 5 allowed"),
    ],
)  # fmt: skip
def test_every_rule_is_enforced_at_kubectl_apply(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tier: str,
    apply_policy: ApplyPolicy,
    breaking: dict[str, Any],
    expected: str,
) -> None:
    # Defaults would give a ModelDeployment without a rollout the policy's: the case that
    # leaves the rollout out needs a policy without defaults.
    defaults = {"rollout": {"checks": [ERROR_RATE]}} if "rollout" not in breaking else None
    name = apply_policy(tier, defaults=defaults, rules=EVERY_RULE)
    manifest = model_deployment(rollout=dict(COMPLIANT_ROLLOUT), sha256=SHA)
    spec = manifest["spec"]
    # The compliant object is admitted: each case below breaks exactly one rule.
    admitted = {**manifest, "metadata": {"name": NAME, "namespace": namespace}}
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input_text=yaml.safe_dump(admitted))
    for key, value in breaking.items():
        if key in ("sha256", "uri"):
            target = spec["model"]
        elif key in ("image", "env"):
            target = spec["serving"]
        elif key in ("rollout", "replicas"):
            target = spec
        else:
            target = spec["rollout"]
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    said = refusal(cluster, namespace, manifest)
    assert f"policy {name}, {expected}" in said, said
    assert 'admission webhook "modeldeployments.modeldeploy.io" denied the request' in said


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({"name": "queue", "query": "sum(rate(queue_depth[1m])", "max": 1},
         "spec.rollout.checks[0] (queue): query is not valid PromQL: unclosed left parenthesis"),
        ({"name": "queue", "query": "sum(nonexistent_fn(x))", "max": 1},
         "query is not valid PromQL: unknown function"),
        ({"name": "queue", "query": 'sum(q{revision="{{revison}}"})', "max": 1},
         "unknown template variable 'revison'"),
        ({"name": "queue", "query": "sum(q{revision={{revision}}})", "max": 1},
         'must be inside a quoted label value'),
        ({"name": "queue", "query": "sum(q)", "maxIncrease": 0.1},
         'maxIncrease needs the query to select revision="{{revision}}"'),
        ({"name": "accuracy", "min": 0.9}, "a check without query must name a built-in"),
        ({"name": "error-rate", "min": 0.5, "max": 0.1}, "min is above max"),
        ({"name": "prediction-drift", "maxIncrease": 0.1}, "bound it with max, not maxIncrease"),
    ],
)  # fmt: skip
def test_a_check_that_could_never_run_is_refused_at_kubectl_apply(
    cluster: Cluster, operator: Any, namespace: str, check: dict[str, Any], expected: str
) -> None:
    said = refusal(cluster, namespace, model_deployment(rollout={"checks": [check]}))
    assert expected in said, said


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"defaults": {"rollout": {"stepWeights": [10, 50]}}, "rules": {"maxStepWeight": 25}},
         "policy bad is invalid: spec.defaults.rollout: step weight 50 breaks the policy's own "
         "maxStepWeight 25"),
        ({"defaults": {"rollout": {"checks": [{"name": "q", "query": "rate(x[1m]", "max": 1}]}}},
         "spec.defaults.rollout.checks[0] (q): query is not valid PromQL"),
        ({"defaults": {"rollout": {"stepWeights": [50, 10]}}}, "stepWeights must rise"),
        ({"rules": {"minInterval": "soon"}}, "spec.rules.minInterval"),
        ({"notifications": [{"name": "team", "webhook": {}}]},
         "exactly one of url, urlFrom must be set"),
    ],
)  # fmt: skip
def test_an_invalid_policy_is_refused_at_kubectl_apply(
    cluster: Cluster, operator: Any, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    said = refusal(cluster, namespace, policy_manifest("bad", spec))
    assert expected in said, said


def test_the_highest_priority_policy_applies_then_the_first_name(
    cluster: Cluster, operator: Any, namespace: str, tier: str, apply_policy: ApplyPolicy
) -> None:
    apply_policy(tier, name=f"b-{tier}", priority=10)
    apply_policy(tier, name=f"a-{tier}", priority=10)
    apply_policy(tier, name=f"c-{tier}", priority=5)
    apply_model_deployment(cluster, namespace, model_deployment())

    def named() -> str | None:
        return (status_of(cluster, namespace, NAME).get("policy") or {}).get("name")

    wait_for(lambda: named() == f"a-{tier}", 60, f"a-{tier} to apply")
    cluster.kubectl("delete", "clusterrolloutpolicy", f"a-{tier}", f"b-{tier}")
    wait_for(lambda: named() == f"c-{tier}", 60, f"c-{tier} to apply once the others are gone")
    cluster.kubectl("label", "namespace", namespace, f"{TIER_LABEL}-")
    wait_for(lambda: named() is None, 60, "no policy once the namespace lost its label")


def test_the_policys_defaults_shape_the_rollout_and_a_change_waits_for_the_next(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tier: str,
    apply_policy: ApplyPolicy,
    trained: TrainedModel,
) -> None:
    defaults = {"rollout": {"stepWeights": [20, 60], "interval": "3s", "scaleDownDelay": "1s"}}
    policy = apply_policy(tier, defaults=defaults)
    apply_model_deployment(cluster, namespace, model_deployment(trained, "v1", replicas=2))
    status = wait_ready(cluster, namespace, NAME)
    assert status["policy"] == {"name": policy, "generation": 1}
    compliant = next(c for c in status["conditions"] if c["type"] == "PolicyViolation")
    assert (compliant["status"], compliant["reason"]) == ("False", "Compliant")

    # The ModelDeployment has no rollout of its own: the policy's steps ramp v2, held by a
    # pause before its first weight while the policy changes.
    paused = model_deployment(trained, "v2", replicas=2)
    paused["metadata"]["annotations"] = {"modeldeploy.io/paused": "true"}
    apply_model_deployment(cluster, namespace, paused)

    def held_at_first_step() -> dict[str, Any] | None:
        current = status_of(cluster, namespace, NAME)
        state = current.get("rollout") or {}
        passed = (state.get("preflight") or {}).get("phase") == "Passed"
        held = current.get("phase") == "Paused" and state.get("step") == 0 and passed
        return current if held and current.get("weight") == 0 else None

    held = wait_for(held_at_first_step, 120, "v2 held by the pause before its first weight")
    canary = held["rollout"]["revision"]
    assert held["rollout"]["policy"]["generation"] == 1
    apply_policy(tier, defaults={"rollout": {"stepWeights": [5, 10, 15], "interval": "3s"}})
    # Applied again without the annotation: the pause ends.
    apply_model_deployment(cluster, namespace, model_deployment(trained, "v2", replicas=2))
    weights = set()

    def promoted() -> bool:
        current = status_of(cluster, namespace, NAME)
        weights.add(current.get("weight"))
        return (current.get("stable") or {}).get("revision") == canary

    wait_for(promoted, 120, "v2 promoted under the policy it started with", interval=0.2)
    assert weights & {5, 10, 15} == set(), weights  # generation 2's steps never ran
    # With the rollout over, the policy of now shapes the next one.
    wait_for(
        lambda: status_of(cluster, namespace, NAME)["policy"] == {"name": policy, "generation": 2},
        30,
        "generation 2 named once the rollout is over",
    )


@pytest.mark.disruptive
def test_a_change_that_breaks_a_policy_while_the_webhook_is_down_starts_nothing(
    cluster: Cluster,
    operator: Any,
    namespace: str,
    tier: str,
    apply_policy: ApplyPolicy,
    trained: TrainedModel,
) -> None:
    apply_model_deployment(cluster, namespace, model_deployment(trained, "v1", replicas=1))
    stable = wait_ready(cluster, namespace, NAME)["stable"]["revision"]
    operator.stop()
    try:
        # No replica answers reviews now; the chart's failurePolicy lets applies through.
        policy = apply_policy(tier, rules={"maxStepWeight": 25})
        bold = model_deployment(trained, "v2", replicas=1, rollout={"stepWeights": [50]})
        apply_model_deployment(cluster, namespace, bold)
        broken = model_deployment(rollout={"checks": [{"name": "q", "query": "rate(x[1m]",
                                                        "max": 1}]})  # fmt: skip
        broken["metadata"]["name"] = "broken"
        apply_model_deployment(cluster, namespace, broken)
    finally:
        operator.restart()

    # What got past admission is refused in status, in the words the webhook would have used.
    def refused() -> dict[str, Any] | None:
        current = status_of(cluster, namespace, "broken")
        return current if current.get("phase") == "Failed" else None

    said = wait_for(refused, 90, "the broken check refused in status")["message"]
    assert said.startswith("spec.rollout.checks[0] (q): query is not valid PromQL"), said

    def violated() -> dict[str, Any] | None:
        body = get_model_deployment(cluster, namespace, NAME)
        current = body.get("status") or {}
        condition = next(
            (c for c in current.get("conditions") or [] if c["type"] == "PolicyViolation"), {}
        )
        fresh = current.get("observedGeneration") == body["metadata"]["generation"]
        return current if fresh and condition.get("status") == "True" else None

    current = wait_for(violated, 90, "the PolicyViolation condition")
    assert (
        f"policy {policy}, rule maxStepWeight: spec.rollout.stepWeights[0] is 50"
        in (current["message"])
    )
    assert current["stable"]["revision"] == stable and current.get("canary") is None
    assert current["revision"] != stable  # the revision asked for, which does not start
    ready = next(c for c in current["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    deployments = cluster.apps.list_namespaced_deployment(namespace).items
    assert [d.metadata.name for d in deployments] == [f"{NAME}-{stable}"]
    assert events_with_reason(cluster, namespace, NAME, "PolicyViolation")

    # Complying again lets the change go on.
    apply_model_deployment(
        cluster,
        namespace,
        model_deployment(trained, "v2", replicas=1, rollout={"stepWeights": [25]}),
    )
    revision = wait_for(
        lambda: (status_of(cluster, namespace, NAME).get("rollout") or {}).get("revision"),
        60,
        "the rollout of v2 to start",
    )
    assert wait_outcome(cluster, namespace, NAME, revision, timeout=180)["stable"]["revision"] == (
        revision
    )
