"""The cluster's gateway as its manifests describe it: what Traefik needs to serve the Gateway
`local`, and nothing that reaches outside the cluster."""

import ipaddress
from typing import Any

from e2e.localcluster.gateway import (
    GATEWAY_CLASS,
    GATEWAY_NAME,
    GATEWAY_NAMESPACE,
    GATEWAY_PORT,
    GATEWAY_SERVICE_IP,
    TRAEFIK_CONTROLLER,
    conditions_true,
    gateway_manifests,
    traefik_args,
)
from e2e.localcluster.netns import SERVICE_CIDR

MANIFESTS = gateway_manifests("traefik:1")


def only(kind: str) -> dict[str, Any]:
    found = [m for m in MANIFESTS if m["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_the_gateway_takes_routes_from_every_namespace_on_port_80() -> None:
    gateway = only("Gateway")
    assert gateway["metadata"] == {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE}
    assert gateway["spec"]["gatewayClassName"] == GATEWAY_CLASS
    assert gateway["spec"]["listeners"] == [
        {
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "All"}},
        }
    ]
    assert only("GatewayClass")["spec"] == {"controllerName": TRAEFIK_CONTROLLER}


def test_traefik_serves_the_listener_port_and_reaches_nothing_outside() -> None:
    args = traefik_args()
    # Traefik's Gateway provider maps a listener to the entry point whose address ends in its
    # port.
    assert f"--entryPoints.web.address=:{GATEWAY_PORT}" in args
    assert "--providers.kubernetesgateway=true" in args
    assert "--global.checkNewVersion=false" in args
    assert "--global.sendAnonymousUsage=false" in args
    service = only("Service")
    assert service["spec"]["clusterIP"] == GATEWAY_SERVICE_IP
    assert ipaddress.ip_address(GATEWAY_SERVICE_IP) in ipaddress.ip_network(SERVICE_CIDR)
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "web"}]


def test_traefik_runs_as_a_restricted_pod_under_its_own_account() -> None:
    pod = only("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == only("ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
    ]
    container = pod["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    binding = only("ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == GATEWAY_NAMESPACE
    rules = only("ClusterRole")["rules"]
    status = next(r for r in rules if "httproutes/status" in r["resources"])
    assert status["verbs"] == ["update"]
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)


def test_conditions_count_only_for_the_current_generation() -> None:
    def gateway(observed: int) -> dict[str, Any]:
        return {
            "metadata": {"generation": 2},
            "status": {
                "conditions": [
                    {"type": "Accepted", "status": "True", "observedGeneration": observed},
                    {"type": "Programmed", "status": "True", "observedGeneration": observed},
                ]
            },
        }

    assert conditions_true(gateway(2), "Accepted", "Programmed")
    assert not conditions_true(gateway(1), "Accepted")
    assert not conditions_true(gateway(2), "Accepted", "ResolvedRefs")
    assert not conditions_true(None, "Accepted")
