"""Names and labels of the objects a ModelDeployment owns."""

from __future__ import annotations

LABEL_NAME = "modeldeploy.io/name"
LABEL_REVISION = "modeldeploy.io/revision"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "modeldeploy"
FIELD_MANAGER = "modeldeploy-operator"
# The port every Service of a model listens on; routes and the serving pods agree on it.
SERVICE_PORT = 80
# The DNS domain of a cluster's Services unless its kubelets are told another.
CLUSTER_DOMAIN = "cluster.local"
NO_REVISION = "none"
"""A revision label value no pod carries (revisions are hex digests): a Service that selects it
has no endpoints, as the client Service of a first deploy before its smoke test passed."""


def deployment_name(name: str, revision: str) -> str:
    return f"{name}-{revision}"


def service_name(name: str) -> str:
    return name


def client_url(name: str, namespace: str, cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """The address of the client Service, as a pod of the cluster calls it."""
    return f"http://{service_name(name)}.{namespace}.svc.{cluster_domain}:{SERVICE_PORT}"


def autoscaler_name(name: str) -> str:
    return name


def stable_service_name(name: str) -> str:
    return f"{name}-stable"


def canary_service_name(name: str) -> str:
    return f"{name}-canary"


def pods_selector(name: str) -> str:
    """The pods of every track of a ModelDeployment, as a label selector string."""
    return f"{LABEL_NAME}={name}"


def selector_labels(name: str, revision: str | None = None) -> dict[str, str]:
    labels = {LABEL_NAME: name}
    if revision is not None:
        labels[LABEL_REVISION] = revision
    return labels
