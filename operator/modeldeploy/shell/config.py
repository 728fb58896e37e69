"""Every setting of the operator, from its flags and environment, in one place."""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from modeldeploy.api.names import CLUSTER_DOMAIN
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, parse_duration
from modeldeploy.api.webhook_targets import STRICT, TargetRules
from modeldeploy.runtime.leader import LeaseTiming


@dataclass(frozen=True)
class Settings:
    namespaces: list[str] = field(default_factory=list)
    """Namespaces to watch; all when empty."""
    prometheus_url: str | None = None
    min_check_window_s: float = 60.0
    """Shortest range a check queries, however short its interval."""
    resync_s: float = 300.0
    """Every object is reconciled at least this often, from the watch cache: a safety net
    against a missed event, not how the operator notices changes."""
    workers: int = 4
    """Reconciles that may run at once (each of a different object)."""
    watch_timeout_s: int = 300
    """How long one WATCH request of the API server lasts before it is resumed."""
    leader_elect: bool = False
    """Act only while holding the leader Lease (for more than one replica)."""
    lease_namespace: str = "default"
    lease_name: str = "modeldeploy-operator"
    lease_timing: LeaseTiming = field(default_factory=LeaseTiming)
    """How long the Lease lasts unrenewed, how long its holder tries to renew it before it
    stops acting, and how often every replica tries."""
    identity: str = field(default_factory=lambda: default_identity())
    """This replica's name on the Lease."""
    webhook_port: int = 0
    """Port of the admission webhook (HTTPS); 0 serves none."""
    webhook_cert_dir: Path = Path("/etc/modeldeploy/webhook")
    """Holds tls.crt and tls.key for the webhook."""
    pod_transport: str = "direct"
    """How the preflight reaches a revision's pods: "direct" to their addresses (inside the
    cluster), "apiserver" through the API server's pod proxy (outside it)."""
    strict_status: bool = False
    """A stored status field the models lack fails the reconcile (for tests), rather than being
    ignored (as written by another version of the operator)."""
    default_serving_image: str = DEFAULT_SERVING_IMAGE
    """The serving image of a ModelDeployment that names none. It is part of the revision:
    changing it rolls each such ModelDeployment out to the new image, through its checks."""
    cluster_domain: str = CLUSTER_DOMAIN
    """The DNS domain of the cluster's Services, in the address status.url gives."""
    notification_targets: TargetRules = STRICT
    """Which webhook addresses notifications may go to: private and in-cluster ones only
    where allowed (MODELDEPLOY_ALLOW_PRIVATE_NOTIFICATION_TARGETS, or by host or CIDR in
    MODELDEPLOY_ALLOWED_NOTIFICATION_TARGETS); MODELDEPLOY_SERVICE_CIDR names the Service
    range, which counts as in-cluster; MODELDEPLOY_NOTIFICATIONS_FROM_SECRETS=false refuses
    URLs from Secrets, where the operator may read none."""
    conflict_retry_s: float = 30.0
    """How soon a ModelDeployment held by another's object in a child's name looks again."""
    serving_admin_secret: str = "modeldeploy-serving-admin"
    """The Secret, in the operator's namespace, holding the key it derives each revision's
    admin token from (made by the first leader). A new key restarts every serving pod once."""

    @classmethod
    def from_env(
        cls,
        namespaces: list[str] | None = None,
        leader_elect: bool = False,
        lease_namespace: str | None = None,
        lease_timing: LeaseTiming | None = None,
        webhook_port: int = 0,
        webhook_cert_dir: Path | None = None,
    ) -> Settings:
        env = os.environ
        return cls(
            leader_elect=leader_elect,
            lease_namespace=lease_namespace or own_namespace(),
            lease_timing=lease_timing or LeaseTiming(),
            webhook_port=webhook_port,
            webhook_cert_dir=webhook_cert_dir or cls.webhook_cert_dir,
            namespaces=list(namespaces or []),
            prometheus_url=env.get("MODELDEPLOY_PROMETHEUS_URL") or None,
            min_check_window_s=parse_duration(env.get("MODELDEPLOY_MIN_CHECK_WINDOW", "1m")),
            resync_s=parse_duration(env.get("MODELDEPLOY_RESYNC_PERIOD", "5m")),
            workers=int(env.get("MODELDEPLOY_WORKERS", "4")),
            watch_timeout_s=int(parse_duration(env.get("MODELDEPLOY_WATCH_TIMEOUT", "5m"))),
            pod_transport=env.get("MODELDEPLOY_POD_TRANSPORT") or default_pod_transport(),
            strict_status=env.get("MODELDEPLOY_STRICT_STATUS", "").lower() == "true",
            default_serving_image=env.get("MODELDEPLOY_DEFAULT_SERVING_IMAGE")
            or DEFAULT_SERVING_IMAGE,
            cluster_domain=env.get("MODELDEPLOY_CLUSTER_DOMAIN") or CLUSTER_DOMAIN,
            serving_admin_secret=env.get("MODELDEPLOY_SERVING_ADMIN_SECRET")
            or cls.serving_admin_secret,
            notification_targets=dataclasses.replace(
                TargetRules.parse(
                    env.get("MODELDEPLOY_ALLOW_PRIVATE_NOTIFICATION_TARGETS", "").lower() == "true",
                    env.get("MODELDEPLOY_ALLOWED_NOTIFICATION_TARGETS", ""),
                    env.get("MODELDEPLOY_SERVICE_CIDR", ""),
                ),
                from_secrets=env.get("MODELDEPLOY_NOTIFICATIONS_FROM_SECRETS", "true").lower()
                != "false",
            ),
        )


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str:
    """The namespace the operator runs in: POD_NAMESPACE, else its service account's, else
    "default" (a process outside the cluster)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return "default"


def default_pod_transport() -> str:
    """Pod addresses are reachable from a pod of the cluster, seldom from outside it."""
    return "direct" if os.environ.get("KUBERNETES_SERVICE_HOST") else "apiserver"


def default_identity() -> str:
    """The pod's name in a pod: a restarted container is the same replica, and takes its own
    Lease back at once, since the kubelet starts it only after the last one exited. Elsewhere
    the host's name and a suffix that tells two processes on one host apart."""
    pod = os.environ.get("POD_NAME")
    return pod or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


_current: Settings | None = None


def configure(settings: Settings) -> None:
    global _current
    _current = settings


def current() -> Settings:
    """The settings `main` configured; read from the environment when nothing did."""
    return _current if _current is not None else Settings.from_env()
