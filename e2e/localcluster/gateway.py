"""A Gateway API implementation in the local cluster: Traefik with its Kubernetes Gateway
provider, in `gateway-system`, behind the Gateway `local`.

Traefik watches GatewayClasses, Gateways and HTTPRoutes under its own ServiceAccount (the RBAC
its documentation lists for that provider), writes their status conditions, and sends each
request to the ready endpoints of the Services an HTTPRoute names, split by the backendRefs'
weights. The Gateway `local` accepts HTTPRoutes from every namespace on one HTTP listener, port
80, which its Service (a fixed cluster IP) exposes inside the cluster and a loopback forwarder
exposes to the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e.localcluster.addons import RESTRICTED_CONTAINER, pod_security
from e2e.localcluster.rest import ApiRest, insecure_get, wait_for

GATEWAY_NAMESPACE = "gateway-system"
GATEWAY_NAME = "local"
GATEWAY_CLASS = "traefik"
# The controller name Traefik's Gateway provider claims GatewayClasses by.
TRAEFIK_CONTROLLER = "traefik.io/gateway-controller"
# A fixed cluster IP: the host's forwarder to the gateway is started before the Service exists.
GATEWAY_SERVICE_IP = "10.0.0.92"
GATEWAY_PORT = 80
# Traefik's own entry point for its ping endpoint, apart from the traffic it routes.
_ADMIN_PORT = 8080
_GATEWAY_API = "gateway.networking.k8s.io"
_TRAEFIK = "traefik"


def traefik_args() -> list[str]:
    return [
        # A Gateway listener is served by the entry point whose address ends in its port.
        f"--entryPoints.web.address=:{GATEWAY_PORT}",
        f"--entryPoints.traefik.address=:{_ADMIN_PORT}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        "--providers.kubernetesgateway=true",
        f"--providers.kubernetesgateway.statusaddress.ip={GATEWAY_SERVICE_IP}",
        # Both default to on and would reach for hosts outside the cluster.
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        # Its log is read as a file (`python -m e2e.localcluster logs`), not on a terminal.
        "--log.noColor=true",
    ]


def _rbac_rules() -> list[dict[str, Any]]:
    """The rules Traefik's documentation lists for its Kubernetes Gateway provider (less `get`
    on pods, which only its OpenTelemetry attributes need)."""
    read = ["get", "list", "watch"]
    return [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": read},
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
        {
            "apiGroups": [_GATEWAY_API],
            "resources": [
                "gatewayclasses",
                "gateways",
                "httproutes",
                "grpcroutes",
                "tcproutes",
                "tlsroutes",
                "referencegrants",
                "backendtlspolicies",
            ],
            "verbs": read,
        },
        {
            "apiGroups": [_GATEWAY_API],
            "resources": [
                "gatewayclasses/status",
                "gateways/status",
                "httproutes/status",
                "grpcroutes/status",
                "tcproutes/status",
                "tlsroutes/status",
                "referencegrants/status",
                "backendtlspolicies/status",
            ],
            "verbs": ["update"],
        },
    ]


def gateway_manifests(image: str) -> list[dict[str, Any]]:
    """Traefik as a Deployment under its own ServiceAccount, its Service, the GatewayClass it
    controls and the Gateway `local`."""
    ns = GATEWAY_NAMESPACE
    labels = {"app.kubernetes.io/name": _TRAEFIK}
    role = "modeldeploy-local-gateway"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": _TRAEFIK, "namespace": ns},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": _rbac_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": _TRAEFIK, "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": _TRAEFIK, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": _TRAEFIK,
                        "terminationGracePeriodSeconds": 2,
                        "securityContext": {
                            **pod_security(65532),
                            # Port 80 without root or a capability: the pod's own network
                            # namespace lets every user bind low ports (a safe sysctl).
                            "sysctls": [
                                {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
                            ],
                        },
                        "containers": [
                            {
                                "name": _TRAEFIK,
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": traefik_args(),
                                "ports": [
                                    {"name": "web", "containerPort": GATEWAY_PORT},
                                    {"name": "admin", "containerPort": _ADMIN_PORT},
                                ],
                                # The only replica: a slow answer on a busy node must not
                                # take it out of the Service for all clients at once.
                                "readinessProbe": {
                                    "httpGet": {"path": "/ping", "port": "admin"},
                                    "periodSeconds": 1,
                                    "timeoutSeconds": 5,
                                    "failureThreshold": 10,
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": _TRAEFIK, "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": GATEWAY_SERVICE_IP,
                "selector": labels,
                "ports": [{"name": "http", "port": GATEWAY_PORT, "targetPort": "web"}],
            },
        },
        {
            "apiVersion": f"{_GATEWAY_API}/v1",
            "kind": "GatewayClass",
            "metadata": {"name": GATEWAY_CLASS},
            "spec": {"controllerName": TRAEFIK_CONTROLLER},
        },
        {
            "apiVersion": f"{_GATEWAY_API}/v1",
            "kind": "Gateway",
            "metadata": {"name": GATEWAY_NAME, "namespace": ns},
            "spec": {
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [
                    {
                        "name": "http",
                        "protocol": "HTTP",
                        "port": GATEWAY_PORT,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


def conditions_true(obj: dict[str, Any] | None, *kinds: str) -> bool:
    """Whether every condition of `kinds` is True for obj's current generation."""
    if not obj:
        return False
    generation = (obj.get("metadata") or {}).get("generation")
    found = {
        c.get("type"): c
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("observedGeneration") in (None, generation)
    }
    return all((found.get(kind) or {}).get("status") == "True" for kind in kinds)


def gateway_path(namespace: str = GATEWAY_NAMESPACE, name: str = GATEWAY_NAME) -> str:
    return f"/apis/{_GATEWAY_API}/v1/namespaces/{namespace}/gateways/{name}"


def wait_gateway(
    api: ApiRest,
    url: str,
    timeout_s: float,
    abort: Callable[[], str | None] = lambda: None,
) -> None:
    """Waits until Traefik has accepted and programmed the Gateway `local`, and its listener
    answers at `url` (the host's forwarder): with no route yet, Traefik's own 404."""
    wait_for(
        "the GatewayClass traefik to be Accepted",
        lambda: conditions_true(
            api.get_json(f"/apis/{_GATEWAY_API}/v1/gatewayclasses/{GATEWAY_CLASS}"), "Accepted"
        ),
        timeout_s,
        interval_s=0.2,
        abort=abort,
    )
    wait_for(
        "the Gateway gateway-system/local to be Accepted and Programmed",
        lambda: conditions_true(api.get_json(gateway_path()), "Accepted", "Programmed"),
        timeout_s,
        interval_s=0.2,
        abort=abort,
    )
    wait_for(
        "the gateway's listener",
        lambda: insecure_get(f"{url}/").status_code == 404,
        timeout_s,
        interval_s=0.2,
        abort=abort,
    )
