"""Scaling a ModelDeployment: the tracks sized from its total by each router, the total held
within the autoscaling bounds, the autoscaler rendered from the block, what refuses a block
that could never work, and what the scale subresource reads in status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modeldeploy.api import names
from modeldeploy.api.observed import Observed, ObservedDeployment
from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import (
    AUTOSCALING_CPU_WITHOUT_REQUEST,
    AUTOSCALING_MIN_ABOVE_MAX,
    AUTOSCALING_NO_TARGET,
    REQUESTS_IN_FLIGHT_METRIC,
    REQUESTS_PER_SECOND_METRIC,
    ModelDeploymentSpec,
    desired_replicas,
    parse_spec,
)
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.rollout import PASS, Decision, Preflight, decide
from modeldeploy.tools import crdgen
from modeldeploy.traffic.gateway_api import GatewayRouter
from modeldeploy.traffic.replicas import ReplicasRouter
from modeldeploy.validation import InvalidSpec, load_spec
from modeldeploy.workload import render

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MODEL = {"name": "iris", "version": "v1", "uri": "s3://models/iris", "format": "sklearn"}
OWNER = render.Owner(name="fraud", namespace="ml", uid="uid-1")
TOTALS = st.integers(min_value=0, max_value=1000)
WEIGHTS = st.integers(min_value=1, max_value=99)


def spec(**fields: Any) -> ModelDeploymentSpec:
    return parse_spec({"model": {**MODEL, **fields.pop("model", {})}, **fields})


def scaling(**fields: Any) -> dict[str, Any]:
    return {"maxReplicas": 10, "targets": {"cpuUtilization": 70}, **fields}


# --- the split each router promises -------------------------------------------------------


@given(total=TOTALS, weight=WEIGHTS)
def test_the_replicas_router_gives_the_canary_its_weights_share_of_the_total(
    total: int, weight: int
) -> None:
    stable, canary = ReplicasRouter().track_replicas(total, weight)
    assert stable >= 1 and canary >= 1
    if total >= 2:
        assert stable + canary == total
        # The nearest share of pods the total allows, never all of them.
        assert canary == min(max(1, round(total * weight / 100)), total - 1)
    else:
        assert (stable, canary) == (1, 1)


@given(total=TOTALS, weight=WEIGHTS, routed=st.integers(min_value=0, max_value=100))
def test_the_gateway_router_sizes_each_track_for_the_traffic_it_takes(
    total: int, weight: int, routed: int
) -> None:
    stable, canary = GatewayRouter(None).track_replicas(total, weight, routed)
    held = min(weight, routed)
    # Enough pods for each share, one at least, and no more than a pod over the share.
    assert canary >= max(1, total * weight / 100)
    assert canary < max(1, total * weight / 100) + 1
    assert stable >= max(1, total * (100 - held) / 100)
    assert stable < max(1, total * (100 - held) / 100) + 1


@given(total=TOTALS, weight=WEIGHTS)
def test_the_stable_keeps_its_pods_until_the_traffic_left_them(total: int, weight: int) -> None:
    router = GatewayRouter(None)
    before_traffic = router.track_replicas(total, weight, 0)
    assert before_traffic[0] == max(total, 1)
    assert router.track_replicas(total, weight, weight) == router.track_replicas(total, weight)


def test_the_last_step_takes_the_stables_pods_only_once_it_serves_no_client() -> None:
    router = GatewayRouter(None)
    assert router.track_replicas(4, 100, 50) == (2, 4)
    assert router.track_replicas(4, 100, 100) == (0, 4)


# --- the total, and the revision ----------------------------------------------------------


@given(
    replicas=st.integers(min_value=0, max_value=1000),
    low=st.integers(min_value=1, max_value=1000),
    span=st.integers(min_value=0, max_value=1000),
)
def test_the_total_never_leaves_the_autoscaling_bounds(replicas: int, low: int, span: int) -> None:
    high = min(low + span, 1000)
    bounded = spec(replicas=replicas, autoscaling=scaling(minReplicas=low, maxReplicas=high))
    assert low <= desired_replicas(bounded) <= high
    if low <= replicas <= high:
        assert desired_replicas(bounded) == replicas
    assert desired_replicas(spec(replicas=replicas)) == replicas


@given(
    replicas=st.integers(min_value=0, max_value=1000),
    autoscaled=st.booleans(),
    high=st.integers(min_value=1, max_value=1000),
)
def test_scaling_never_changes_the_revision(replicas: int, autoscaled: bool, high: int) -> None:
    fixed = compute_revision("fraud", spec())
    block = {"autoscaling": scaling(maxReplicas=high)} if autoscaled else {}
    assert compute_revision("fraud", spec(replicas=replicas, **block)) == fixed


def test_a_revision_stored_before_autoscaling_is_unchanged() -> None:
    """Objects that exist keep the revision they have: scaling was never part of it."""
    assert compute_revision("fraud", spec(replicas=3)) == "539e11f48c"


# --- a rollout whose total changes --------------------------------------------------------


class Cluster:
    """Deployments whose pods are all Ready at the size they were given, a moment later."""

    def __init__(self, model_spec: ModelDeploymentSpec) -> None:
        self.spec = model_spec
        self.revision = compute_revision("m", model_spec)
        self.status = ModelDeploymentStatus()
        self.sizes: dict[str, int] = {}
        self.now = T0

    def observed(self) -> Observed:
        return Observed(
            deployments={
                rev: ObservedDeployment(f"m-{rev}", rev, n, n, n, f"uid-{rev}", pods=n)
                for rev, n in self.sizes.items()
            }
        )

    def step(self) -> Decision:
        self.now += timedelta(seconds=1)
        decision = decide(
            "m",
            self.spec,
            self.revision,
            self.status,
            self.observed(),
            self.now,
            1,
            preflight=Preflight(PASS, "passed"),
        )
        self.status = decision.status
        self.sizes = dict(decision.replicas)
        return decision

    def run_until(self, predicate: Any) -> Decision:
        for _ in range(200):
            decision = self.step()
            if predicate(decision):
                return decision
        raise AssertionError(f"not reached: {self.status.message}")

    def change(self, **fields: Any) -> None:
        self.spec = spec(**fields)
        self.revision = compute_revision("m", self.spec)


CANARY_AT_25 = {"steps": [{"weight": 25, "approval": "required"}, {"weight": 50}]}


@pytest.mark.parametrize(
    ("router", "at_four", "at_eight"),
    [
        ("replicas", (3, 1), (6, 2)),
        ("gateway-api", (3, 1), (6, 2)),
    ],
)
def test_a_scale_mid_rollout_keeps_the_canarys_share_and_starts_nothing(
    router: str, at_four: tuple[int, int], at_eight: tuple[int, int]
) -> None:
    traffic: dict[str, Any] = {"router": router}
    if router == "gateway-api":
        traffic["httpRoute"] = {"name": "m"}
    rollout = {**CANARY_AT_25, "traffic": traffic, "schemaChange": "Allow"}
    cluster = Cluster(spec(replicas=4, rollout=rollout))
    cluster.run_until(lambda d: d.status.phase == "Ready")
    cluster.change(replicas=4, rollout=rollout, model={"version": "v2"})
    held = cluster.run_until(lambda d: d.status.phase == "AwaitingApproval")
    stable, canary = held.stable_revision, held.canary_revision
    assert stable is not None and canary is not None
    assert (held.replicas[stable], held.replicas[canary]) == at_four
    started = held.status.rollout
    assert started is not None

    cluster.change(replicas=8, rollout=rollout, model={"version": "v2"})
    assert cluster.revision == canary
    scaled = cluster.step()
    assert (scaled.replicas[stable], scaled.replicas[canary]) == at_eight
    assert scaled.status.rollout == started
    assert scaled.weight == 25
    assert not [e for e in scaled.events if e.reason in ("RolloutStarted", "RolledBack")]


def test_new_pods_of_a_step_already_reached_never_roll_the_canary_back() -> None:
    rollout = {**CANARY_AT_25, "schemaChange": "Allow", "progressDeadline": "30s"}
    cluster = Cluster(spec(replicas=4, rollout=rollout))
    cluster.run_until(lambda d: d.status.phase == "Ready")
    cluster.change(replicas=4, rollout=rollout, model={"version": "v2"})
    cluster.run_until(lambda d: d.status.phase == "AwaitingApproval")
    cluster.now += timedelta(minutes=10)
    cluster.change(replicas=40, rollout=rollout, model={"version": "v2"})
    # The scaled-up canary is not Ready yet, long past the step's deadline.
    cluster.sizes = {rev: 1 if rev == cluster.revision else n for rev, n in cluster.sizes.items()}
    decision = decide(
        "m", cluster.spec, cluster.revision, cluster.status,
        Observed(deployments={
            rev: ObservedDeployment(f"m-{rev}", rev, n, 1, 1, f"uid-{rev}", pods=n)
            for rev, n in cluster.sizes.items()
        }),
        cluster.now + timedelta(seconds=1), 1,
    )  # fmt: skip
    assert decision.status.phase == "AwaitingApproval"
    assert decision.status.rolled_back is None


def test_blue_green_previews_at_the_current_total() -> None:
    rollout = {
        "strategy": "blueGreen",
        "blueGreen": {"previewDuration": "1h"},
        "schemaChange": "Allow",
    }
    cluster = Cluster(spec(replicas=3, rollout=rollout))
    cluster.run_until(lambda d: d.status.phase == "Ready")
    cluster.change(replicas=3, rollout=rollout, model={"version": "v2"})
    preview = cluster.run_until(lambda d: d.status.phase == "Preview")
    assert sorted(preview.replicas.values()) == [3, 3]
    cluster.change(replicas=5, rollout=rollout, model={"version": "v2"})
    assert sorted(cluster.step().replicas.values()) == [5, 5]


def test_the_stable_alone_runs_the_autoscaled_total() -> None:
    cluster = Cluster(spec(autoscaling=scaling(minReplicas=2, maxReplicas=6)))
    ready = cluster.run_until(lambda d: d.status.phase == "Ready")
    # spec.replicas defaults to 1 until the autoscaler writes it: the minimum holds.
    assert list(ready.replicas.values()) == [2]
    cluster.change(replicas=9, autoscaling=scaling(minReplicas=2, maxReplicas=6))
    assert list(cluster.step().replicas.values()) == [6]


def test_status_carries_what_the_scale_subresource_reads() -> None:
    cluster = Cluster(spec(replicas=3))
    ready = cluster.run_until(lambda d: d.status.phase == "Ready")
    assert ready.status.selector == "modeldeploy.io/name=m"
    assert ready.status.replicas == 3
    cluster.sizes["old"] = 2  # a previous stable kept warm counts too: the selector has it
    assert cluster.step().status.replicas == 5


# --- the autoscaler ---------------------------------------------------------------------


def test_no_block_renders_no_autoscaler() -> None:
    assert render.build_autoscaler(OWNER, spec(replicas=3)) is None


def test_the_autoscaler_scales_the_model_deployment_on_each_target() -> None:
    block = scaling(
        minReplicas=2,
        maxReplicas=12,
        targets={"cpuUtilization": 70, "requestsPerSecond": 20, "requestsInFlight": 2.5},
    )
    autoscaler = render.build_autoscaler(OWNER, spec(autoscaling=block))
    assert autoscaler is not None
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["metadata"]["name"] == names.autoscaler_name("fraud")
    assert autoscaler["metadata"]["ownerReferences"][0]["kind"] == "ModelDeployment"
    assert autoscaler["spec"] == {
        "scaleTargetRef": {
            "apiVersion": "modeldeploy.io/v1alpha1",
            "kind": "ModelDeployment",
            "name": "fraud",
        },
        "minReplicas": 2,
        "maxReplicas": 12,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": REQUESTS_PER_SECOND_METRIC},
                    "target": {"type": "AverageValue", "averageValue": "20"},
                },
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": REQUESTS_IN_FLIGHT_METRIC},
                    "target": {"type": "AverageValue", "averageValue": "2500m"},
                },
            },
        ],
    }


@pytest.mark.parametrize(
    ("amount", "quantity"), [(20, "20"), (2.5, "2500m"), (0.001, "1m"), (1.0, "1")]
)
def test_a_per_pod_target_is_written_as_the_api_server_writes_it_back(
    amount: float, quantity: str
) -> None:
    assert render.average_value(amount) == quantity


# --- what is refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "serving", "message"),
    [
        (scaling(minReplicas=5, maxReplicas=3), {}, AUTOSCALING_MIN_ABOVE_MAX),
        (scaling(targets={}), {}, AUTOSCALING_NO_TARGET),
        (
            scaling(),
            {"resources": {"requests": {"memory": "1Gi"}}},
            AUTOSCALING_CPU_WITHOUT_REQUEST,
        ),
    ],
)
def test_a_block_that_could_never_scale_is_refused(
    block: dict[str, Any], serving: dict[str, Any], message: str
) -> None:
    raw = {"model": MODEL, "autoscaling": block, "serving": serving}
    with pytest.raises(InvalidSpec, match=message.split(":")[0]):
        load_spec(raw)


def test_a_block_on_requests_alone_needs_no_cpu_request() -> None:
    block = scaling(targets={"requestsPerSecond": 5})
    load_spec({"model": MODEL, "autoscaling": block, "serving": {"resources": {}}})


def test_the_crd_refuses_the_same_at_apply() -> None:
    schema = crdgen.model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    model_spec = schema["properties"]["spec"]
    block = model_spec["properties"]["autoscaling"]
    messages = [rule["message"] for rule in block["x-kubernetes-validations"]]
    assert messages == [AUTOSCALING_MIN_ABOVE_MAX]
    targets = block["properties"]["targets"]["x-kubernetes-validations"]
    assert [rule["message"] for rule in targets] == [AUTOSCALING_NO_TARGET]
    assert AUTOSCALING_CPU_WITHOUT_REQUEST in [
        rule["message"] for rule in model_spec["x-kubernetes-validations"]
    ]
