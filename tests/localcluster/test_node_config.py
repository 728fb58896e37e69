"""The real node's configuration, built by pure functions: what each piece took to run here."""

from pathlib import Path

from e2e.localcluster import node
from e2e.localcluster.addons import DNS_SERVICE_IP, coredns_manifests, model_store_manifests
from e2e.localcluster.netns import NODE_IP, POD_CIDR
from e2e.localcluster.pki import generate
from e2e.localcluster.prometheus import (
    in_cluster_config,
    in_cluster_manifests,
    podmonitor_scrape_config,
)

LAYOUT = node.NodeLayout("abc123", "node-1")


def test_containerd_runs_runc_under_cgroupfs_without_raising_oom_priority() -> None:
    config = node.containerd_config(LAYOUT, "docker.io/modeldeploy/pause:0.1.0")
    assert "restrict_oom_score_adj = true" in config
    assert "SystemdCgroup = false" in config
    assert 'sandbox_image = "docker.io/modeldeploy/pause:0.1.0"' in config
    assert f'address = "{LAYOUT.containerd_socket}"' in config
    # Pods' network namespaces live under the node's own state, not the machine's /run/netns.
    assert "netns_mounts_under_state_dir = true" in config
    assert str(LAYOUT.root) in config and str(LAYOUT.run) in config


def test_pods_share_one_bridge_and_nothing_is_masqueraded() -> None:
    bridge = node.cni_config(LAYOUT)["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_CIDR}]]
    # Addresses are handed out from the node's own state, which its teardown removes.
    assert bridge["ipam"]["dataDir"] == str(LAYOUT.root / "cni-ipam")


def test_kubelet_uses_its_own_cgroup_root_on_cgroup_v1(tmp_path: Path) -> None:
    pki = generate(tmp_path / "pki", "node-1", NODE_IP)
    config = node.kubelet_config(LAYOUT, pki, tmp_path / "resolv.conf")
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/modeldeploy-abc123"
    assert config["containerRuntimeEndpoint"] == f"unix://{LAYOUT.containerd_socket}"
    assert config["clusterDNS"] == [DNS_SERVICE_IP]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["address"] == NODE_IP


def test_kube_proxy_leaves_the_machine_wide_conntrack_table_alone(tmp_path: Path) -> None:
    config = node.kube_proxy_config(tmp_path / "kubeconfig", "node-1")
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["mode"] == "iptables" and config["clusterCIDR"] == POD_CIDR


def test_cluster_add_ons_run_as_restricted_pods() -> None:
    manifests = [
        *coredns_manifests("dns:1"),
        *model_store_manifests("s3:1"),
        *in_cluster_manifests("prom:1", "2s", Path("/data")),
    ]
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            assert container["imagePullPolicy"] == "Never"
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    corefile = next(m for m in manifests if m["kind"] == "ConfigMap")["data"]["Corefile"]
    assert "forward" not in corefile, "no lookup may leave the cluster"


def test_prometheus_discovers_pods_itself() -> None:
    (job,) = in_cluster_config("2s")["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert "http_sd_configs" not in job


PODMONITOR = {
    "metadata": {"name": "modeldeploy-serving", "namespace": "modeldeploy-system"},
    "spec": {
        "namespaceSelector": {"any": True},
        "selector": {"matchLabels": {"app.kubernetes.io/managed-by": "modeldeploy"}},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
    },
}


def test_a_podmonitor_becomes_the_job_prometheus_operator_would_write() -> None:
    job = podmonitor_scrape_config(PODMONITOR, "2s")
    assert job["job_name"] == "podMonitor/modeldeploy-system/modeldeploy-serving/0"
    assert job["honor_labels"] is False
    relabel = job["relabel_configs"]
    keep_labels = relabel[1]
    assert keep_labels["source_labels"] == [
        "__meta_kubernetes_pod_label_app_kubernetes_io_managed_by",
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_managed_by",
    ]
    assert keep_labels["regex"] == "(modeldeploy);true"
    targets = {r["target_label"]: r.get("replacement") for r in relabel if "target_label" in r}
    assert targets["job"] == "modeldeploy-system/modeldeploy-serving"
    assert targets["endpoint"] == "http"
    assert {"namespace", "pod", "container"} <= set(targets)
