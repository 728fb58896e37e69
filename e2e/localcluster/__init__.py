"""A local Kubernetes cluster made of real components, for tests and demos without Docker.

etcd, the control plane and a node (kubelet, containerd, runc, the CNI bridge, kube-proxy) in a
network namespace of their own; CoreDNS, Prometheus, an S3 model store and Traefik (the Gateway
API implementation behind the Gateway `local`) run on it as pods.

    from e2e.localcluster import LocalCluster

    with LocalCluster(Path(".cluster")) as cluster:
        ...  # cluster.kubeconfig, cluster.prometheus_url, cluster.netns
"""

from e2e.localcluster.cluster import ClusterStartError, LocalCluster

__all__ = ["ClusterStartError", "LocalCluster"]
