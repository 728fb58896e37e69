"""Pure builders of the objects a ModelDeployment owns: (spec, revision, replicas) → manifests.

Nothing here talks to the API server; `kube` applies what these return.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from modeldeploy.api import names
from modeldeploy.api.spec import (
    GROUP,
    KIND,
    REQUESTS_IN_FLIGHT_METRIC,
    REQUESTS_PER_SECOND_METRIC,
    RESERVED_VOLUME,
    VERSION,
    DisruptionBudget,
    ModelDeploymentSpec,
    TensorSpec,
    parse_duration,
)
from modeldeploy.workload import admin

Manifest = dict[str, Any]

SERVING_CONTAINER = "server"
PORT_NAME = "http"
SERVICE_PORT = names.SERVICE_PORT
METRICS_PATH = "/metrics"
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
STARTUP_PROBE_PERIOD_S = 2
READINESS_PROBE_PERIOD_S = 2
# The image's non-root user; the Dockerfile creates it with this id.
SERVING_UID = 65532


@dataclass(frozen=True)
class Owner:
    """The ModelDeployment that owns the rendered objects."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> Manifest:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def _metadata(owner: Owner, name: str, labels: dict[str, str]) -> Manifest:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": {**labels, names.LABEL_MANAGED_BY: names.MANAGER},
        "ownerReferences": [owner.reference()],
    }


def _schema_json(tensors: list[TensorSpec]) -> str:
    return json.dumps([t.model_dump(mode="json") for t in tensors], separators=(",", ":"))


def build_serving_env(model_spec: ModelDeploymentSpec, revision: str) -> list[Manifest]:
    """The serving image's configuration, then the user's own variables."""
    model = model_spec.model
    env: list[Manifest] = [
        {"name": "MODEL_NAME", "value": model.name},
        {"name": "MODEL_VERSION", "value": model.version},
        {"name": "MODEL_URI", "value": model.uri},
        {"name": "MODEL_FORMAT", "value": model.format.value},
        {"name": "MODEL_REVISION", "value": revision},
    ]
    if model.sha256:
        env.append({"name": "MODEL_SHA256", "value": model.sha256})
    if model.inputs:
        env.append({"name": "MODEL_INPUT_SCHEMA", "value": _schema_json(model.inputs)})
    if model.outputs:
        env.append({"name": "MODEL_OUTPUT_SCHEMA", "value": _schema_json(model.outputs)})
    env.append({"name": "SERVING_PORT", "value": str(model_spec.serving.port)})
    for var in model_spec.serving.env:
        if var.value_from is not None:
            source = var.value_from.model_dump(mode="json", by_alias=True, exclude_none=True)
            env.append({"name": var.name, "valueFrom": source})
        else:
            env.append({"name": var.name, "value": var.value})
    return env


def _dump_list(items: list[Any] | None) -> list[Manifest]:
    return [i.model_dump(mode="json", by_alias=True, exclude_none=True) for i in items or []]


def _probe(path: str, period_s: int, failure_threshold: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": period_s,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": failure_threshold,
    }


def build_pod_template(
    owner: Owner, model_spec: ModelDeploymentSpec, revision: str, admin_key: bytes | None = None
) -> Manifest:
    """With `admin_key`, the pods open their admin port to the token the operator derives
    from it (`workload.admin`)."""
    serving = model_spec.serving
    startup_failures = max(
        1, math.ceil(parse_duration(serving.startup_timeout) / STARTUP_PROBE_PERIOD_S)
    )
    resources = serving.resources.model_dump(mode="json", exclude_none=True)
    ports = [{"name": PORT_NAME, "containerPort": serving.port, "protocol": "TCP"}]
    env = build_serving_env(model_spec, revision)
    if admin_key is not None:
        port = admin.admin_port(serving.port)
        ports.append({"name": admin.PORT_NAME, "containerPort": port, "protocol": "TCP"})
        digest = admin.token_digest(admin.token(admin_key, owner.namespace, owner.name, revision))
        env[:0] = [
            {"name": "SERVING_ADMIN_PORT", "value": str(port)},
            {"name": "SERVING_ADMIN_TOKEN_SHA256", "value": digest},
        ]
    container: Manifest = {
        "name": SERVING_CONTAINER,
        "image": serving.image,
        "ports": ports,
        "env": env,
        "resources": resources,
        # Startup waits for the model to load and warm up; only then do liveness and
        # readiness take over, so a slow load is never mistaken for a hung server.
        "startupProbe": _probe(READY_PATH, STARTUP_PROBE_PERIOD_S, startup_failures),
        "readinessProbe": _probe(READY_PATH, READINESS_PROBE_PERIOD_S, 2),
        "livenessProbe": _probe(LIVE_PATH, 10, 3),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVING_UID,
            "runAsGroup": SERVING_UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": RESERVED_VOLUME, "mountPath": "/tmp"},
            *_dump_list(serving.volume_mounts),
        ],
    }
    if serving.env_from:
        container["envFrom"] = _dump_list(serving.env_from)
    labels = {
        **(serving.pod_labels or {}),
        **names.selector_labels(owner.name, revision),
        "app.kubernetes.io/name": owner.name,
        "app.kubernetes.io/version": model_spec.model.version,
        names.LABEL_MANAGED_BY: names.MANAGER,
    }
    pod_spec: Manifest = {
        "containers": [container],
        "volumes": [
            {"name": RESERVED_VOLUME, "emptyDir": {"sizeLimit": "2Gi"}},
            *_dump_list(serving.volumes),
        ],
        # The token is mounted only for a service account the user names (workload identity,
        # IRSA): the server itself never calls the API.
        "automountServiceAccountToken": serving.service_account_name is not None,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {"fsGroup": SERVING_UID},
    }
    if serving.service_account_name:
        pod_spec["serviceAccountName"] = serving.service_account_name
    if serving.node_selector:
        pod_spec["nodeSelector"] = dict(serving.node_selector)
    if serving.tolerations:
        pod_spec["tolerations"] = _dump_list(serving.tolerations)
    if serving.affinity:
        pod_spec["affinity"] = dict(serving.affinity)
    if serving.topology_spread_constraints:
        selector = {"matchLabels": names.selector_labels(owner.name, revision)}
        pod_spec["topologySpreadConstraints"] = [
            {**c, "labelSelector": selector}
            for c in _dump_list(serving.topology_spread_constraints)
        ]
    if serving.image_pull_secrets:
        pod_spec["imagePullSecrets"] = _dump_list(serving.image_pull_secrets)
    return {
        "metadata": {
            "labels": labels,
            "annotations": {
                **(serving.pod_annotations or {}),
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(serving.port),
                "prometheus.io/path": METRICS_PATH,
            },
        },
        "spec": pod_spec,
    }


def build_deployment(
    owner: Owner,
    model_spec: ModelDeploymentSpec,
    revision: str,
    replicas: int,
    admin_key: bytes | None = None,
) -> Manifest:
    labels = {
        **names.selector_labels(owner.name, revision),
        "app.kubernetes.io/version": model_spec.model.version,
    }
    startup_s = parse_duration(model_spec.serving.startup_timeout)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, names.deployment_name(owner.name, revision), labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": names.selector_labels(owner.name, revision)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "revisionHistoryLimit": 2,
            "progressDeadlineSeconds": int(max(600, startup_s * 2)),
            "template": build_pod_template(owner, model_spec, revision, admin_key),
        },
    }


def build_disruption_budget(
    deployment: Manifest, model_spec: ModelDeploymentSpec, owner_name: str, revision: str
) -> Manifest:
    """One revision's PodDisruptionBudget, owned by its Deployment so that it goes with it."""
    meta = deployment["metadata"]
    budget = model_spec.serving.disruption_budget or DisruptionBudget()
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {**names.selector_labels(owner_name), names.LABEL_MANAGED_BY: names.MANAGER},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "maxUnavailable": budget.max_unavailable,
            "selector": {"matchLabels": names.selector_labels(owner_name, revision)},
        },
    }


def _service(owner: Owner, name: str, selector: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, name, names.selector_labels(owner.name)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": SERVICE_PORT,
                    "targetPort": PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_services(
    owner: Owner,
    stable_revision: str | None,
    canary_revision: str | None,
    client_revisions: list[str] | None = None,
) -> list[Manifest]:
    """The Service clients use and one per track.

    The client Service sends to `client_revisions` (the router's choice): one revision's pods,
    or, during a ramp, every serving pod of this model; with none (a first deploy whose
    preflight has not passed), to no pod at all. With no canary, the canary Service selects the
    stable pods, so a route that names it always has a valid backend; with no stable yet, the
    track Services select no pod either.
    """
    stable = stable_revision or names.NO_REVISION
    if client_revisions is None:
        client_revisions = [stable]
    serving = client_revisions or [names.NO_REVISION]
    client = names.selector_labels(owner.name, serving[0] if len(serving) == 1 else None)
    return [
        _service(owner, names.service_name(owner.name), client),
        _service(
            owner,
            names.stable_service_name(owner.name),
            names.selector_labels(owner.name, stable),
        ),
        _service(
            owner,
            names.canary_service_name(owner.name),
            names.selector_labels(owner.name, canary_revision or stable),
        ),
    ]


def average_value(amount: float) -> str:
    """A per-pod target as a Kubernetes quantity in the form the API server writes back
    (whole numbers plain, the rest in thousandths), so that what is read equals what was
    written."""
    thousandths = max(1, round(amount * 1000))
    return str(thousandths // 1000) if thousandths % 1000 == 0 else f"{thousandths}m"


def build_autoscaler(owner: Owner, model_spec: ModelDeploymentSpec) -> Manifest | None:
    """The HorizontalPodAutoscaler of the autoscaling block, scaling the ModelDeployment itself
    through its scale subresource; None without the block."""
    scaling = model_spec.autoscaling
    if scaling is None:
        return None
    targets = scaling.targets
    metrics: list[Manifest] = []
    if targets.cpu_utilization is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": targets.cpu_utilization,
                    },
                },
            }
        )
    per_pod = (
        (REQUESTS_PER_SECOND_METRIC, targets.requests_per_second),
        (REQUESTS_IN_FLIGHT_METRIC, targets.requests_in_flight),
    )
    for metric, amount in per_pod:
        if amount is not None:
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": metric},
                        "target": {"type": "AverageValue", "averageValue": average_value(amount)},
                    },
                }
            )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(
            owner, names.autoscaler_name(owner.name), names.selector_labels(owner.name)
        ),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": owner.name,
            },
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
        },
    }
