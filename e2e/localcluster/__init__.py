"""A local Kubernetes cluster made of real components, for tests and demos without Docker.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as local processes on
127.0.0.1; a node agent plays the kubelet and runs pods' containers as local processes, each
pod on its own 127.x.y.z address; Prometheus scrapes annotated pods.

    from e2e.localcluster import LocalCluster

    with LocalCluster(Path(".cluster")) as cluster:
        ...  # cluster.kubeconfig, cluster.prometheus_url
"""

from e2e.localcluster.cluster import ClusterStartError, LocalCluster

__all__ = ["ClusterStartError", "LocalCluster"]
