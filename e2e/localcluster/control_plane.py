"""Command lines of etcd, kube-apiserver, kube-controller-manager and kube-scheduler."""

from __future__ import annotations

from pathlib import Path

from e2e.localcluster.pki import ClusterPKI
from e2e.localcluster.state import ClusterRecord, StateLayout

# Room for thousands of Services: every ModelDeployment has three.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


def etcd_argv(record: ClusterRecord) -> list[str]:
    client = f"http://127.0.0.1:{record.etcd_client_port}"
    peer = f"http://127.0.0.1:{record.etcd_peer_port}"
    return [
        str(Path(record.bin_dir) / "etcd"),
        "--name=default",
        f"--data-dir={record.etcd_data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # The data lives on tmpfs and dies with the cluster: durability buys nothing here.
        "--unsafe-no-fsync",
        "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ]


def apiserver_argv(
    record: ClusterRecord,
    pki: ClusterPKI,
    *,
    port: int | None = None,
    bind_address: str = "127.0.0.1",
    advertise_address: str = "127.0.0.1",
) -> list[str]:
    """The API server; port defaults to the record's (the host-facing one without a node
    namespace), bind and advertise addresses to loopback."""
    return [
        str(Path(record.bin_dir) / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{record.etcd_client_port}",
        f"--secure-port={port or record.apiserver_port}",
        f"--bind-address={bind_address}",
        f"--advertise-address={advertise_address}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        f"--client-ca-file={pki.ca.cert}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
        f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
        "--kubelet-preferred-address-types=InternalIP",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=1",
    ]


def controller_manager_argv(
    record: ClusterRecord, pki: ClusterPKI, state: StateLayout
) -> list[str]:
    kubeconfig = state.component_kubeconfig("controller-manager")
    return [
        str(Path(record.bin_dir) / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={record.controller_manager_port}",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca.cert}",
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # Changes show up in EndpointSlices and ReplicaSets at once, not in batches.
        "--endpointslice-updates-batch-period=0s",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_argv(record: ClusterRecord, state: StateLayout) -> list[str]:
    kubeconfig = state.component_kubeconfig("scheduler")
    return [
        str(Path(record.bin_dir) / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={record.scheduler_port}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]
