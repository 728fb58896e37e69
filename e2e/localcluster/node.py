"""The cluster's node: kubelet, containerd with runc, the CNI bridge and kube-proxy.

Pure builders of each component's configuration, and the few host operations a node needs
that are not processes: its cgroups, its mounts and its images. The processes themselves are
started by LocalCluster inside the cluster's network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.localcluster.addons import DNS_SERVICE_IP
from e2e.localcluster.netns import NODE_IP, POD_CIDR
from e2e.localcluster.pki import ClusterPKI

CGROUP_V1_ROOT = Path("/sys/fs/cgroup")
CNI_BIN_DIR = Path("/usr/lib/cni")
CONTAINERD_NAMESPACE = "k8s.io"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
# Debian's packages the node runs; `make system-deps` installs them.
NODE_PACKAGES = ("containerd", "runc", "containernetworking-plugins", "iptables", "conntrack")


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps its state. Outside the repository: the kubelet bind-mounts its root
    and containerd's snapshots are overlay mounts, neither of which belongs in a clone."""

    cluster_id: str
    name: str

    @property
    def root(self) -> Path:
        return Path("/var/lib/modeldeploy") / self.cluster_id

    @property
    def run(self) -> Path:
        return Path("/run/modeldeploy") / self.cluster_id

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def ipam_dir(self) -> Path:
        return self.root / "cni-ipam"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def cgroup_root(self) -> str:
        return f"/modeldeploy-{self.cluster_id}"

    def create(self) -> None:
        for d in (self.kubelet_root, self.pod_logs, self.containerd_root, self.cni_conf_dir,
                  self.config_dir, self.containerd_state):  # fmt: skip
            d.mkdir(parents=True, exist_ok=True)


def containerd_config(layout: NodeLayout, sandbox_image: str) -> str:
    """containerd 1.6's config (version 2): runc under cgroupfs, the bridge CNI, our pause."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{layout.containerd_root}"',
            f'state = "{layout.containerd_state}"',
            'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", '
            '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
            '"io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]',
            "[grpc]",
            f'  address = "{layout.containerd_socket}"',
            "[debug]",
            '  level = "warn"',
            f"[{cri}]",
            f'  sandbox_image = "{sandbox_image}"',
            # Root here lacks CAP_SYS_RESOURCE: lowering oom_score_adj below the parent's would
            # fail every sandbox ("can't get final child's PID from pipe").
            "  restrict_oom_score_adj = true",
            "  disable_apparmor = true",
            "  enable_selinux = false",
            "  max_container_log_line_size = 65536",
            # Pods' network namespaces under the node's own state, not the machine's /run/netns:
            # they go when the node goes, even after a crash.
            "  netns_mounts_under_state_dir = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            # Images are imported, never pulled: the node has no registry to pull from.
            "  discard_unpacked_layers = false",
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN_DIR}"',
            f'  conf_dir = "{layout.cni_conf_dir}"',
            "",
        ]
    )


def cni_config(layout: NodeLayout) -> dict[str, Any]:
    """One bridge for every pod; no masquerading, since no packet may leave the namespace.

    The addresses handed out are kept under the node's own state, which its teardown removes:
    host-local's default, /var/lib/cni/networks, is the machine's, and pods ended by removing
    their cgroups never give their addresses back, so it would fill up over many clusters."""
    return {
        "cniVersion": "1.0.0",
        "name": "modeldeploy",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


FAST_RESTART = "2s"


def kubelet_config(
    layout: NodeLayout,
    pki: ClusterPKI,
    resolv_conf: Path,
    max_restart_period: str | None = FAST_RESTART,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # The machine's cgroups are v1; kubelet 1.35+ refuses them unless told otherwise.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(pki.kubelet_serving.cert),
        "tlsPrivateKeyFile": str(pki.kubelet_serving.key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca.cert)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        # What pods with dnsPolicy Default (CoreDNS itself) get: no nameserver, so no lookup
        # ever leaves the namespace.
        "resolvConf": str(resolv_conf),
        "podLogsDir": str(layout.pod_logs),
        "failSwapOn": False,
        "registerNode": True,
        "serializeImagePulls": False,
        "podPidsLimit": 4096,
        "maxPods": 250,
        # The machine is shared with the tests: evict only when it is really short.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "localStorageCapacityIsolation": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "shutdownGracePeriod": "0s",
        "enableServer": True,
        "staticPodPath": "",
    }
    if max_restart_period is not None:
        # A container that dies is started again within this period, however often it died:
        # the fault scenarios kill the operator's leader ten times in one rollout, and the
        # kubelet's default back-off (10 s, doubling to 5 min) would measure the node, not the
        # operator. None keeps the kubelet's default, as a node of a real cluster has it.
        config["crashLoopBackOff"] = {"maxContainerRestartPeriod": max_restart_period}
    return config


def kube_proxy_config(kubeconfig: Path, node_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": node_name,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the machine-wide conntrack table size as it is.
        "conntrack": {"maxPerCore": 0, "min": 0},
        # Rules follow Service and endpoint changes at once rather than after a second.
        "iptables": {"minSyncPeriod": "0s", "syncPeriod": "30s"},
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }


def write_node_config(
    layout: NodeLayout,
    pki: ClusterPKI,
    sandbox_image: str,
    max_restart_period: str | None = FAST_RESTART,
) -> None:
    import yaml

    layout.create()
    (layout.config_dir / "containerd.toml").write_text(containerd_config(layout, sandbox_image))
    (layout.cni_conf_dir / "10-modeldeploy.conflist").write_text(json.dumps(cni_config(layout)))
    resolv = layout.config_dir / "resolv.conf"
    resolv.write_text("# The local cluster has no DNS server.\noptions ndots:1\n")
    (layout.config_dir / "kubelet.yaml").write_text(
        yaml.safe_dump(kubelet_config(layout, pki, resolv, max_restart_period), sort_keys=False)
    )
    (layout.config_dir / "kube-proxy.yaml").write_text(
        yaml.safe_dump(
            kube_proxy_config(layout.config_dir / "kube-proxy.kubeconfig", layout.name),
            sort_keys=False,
        )
    )


def containerd_argv(layout: NodeLayout) -> list[str]:
    return ["containerd", f"--config={layout.config_dir / 'containerd.toml'}"]


def kubelet_argv(bin_dir: Path, layout: NodeLayout) -> list[str]:
    return [
        str(bin_dir / "kubelet"),
        f"--config={layout.config_dir / 'kubelet.yaml'}",
        f"--kubeconfig={layout.config_dir / 'kubelet.kubeconfig'}",
        f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={layout.name}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


def kube_proxy_argv(bin_dir: Path, layout: NodeLayout) -> list[str]:
    return [
        str(bin_dir / "kube-proxy"),
        f"--config={layout.config_dir / 'kube-proxy.yaml'}",
        "--v=1",
    ]


def ctr_argv(layout: NodeLayout, *args: str) -> list[str]:
    return ["ctr", f"--address={layout.containerd_socket}", "-n", CONTAINERD_NAMESPACE, *args]


def import_images(layout: NodeLayout, tars: list[Path]) -> None:
    for tar in tars:
        result = subprocess.run(
            ctr_argv(layout, "images", "import", "--no-unpack=false", str(tar)),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"importing {tar} into containerd failed: {result.stderr[-2000:]}")


# cgroups -----------------------------------------------------------------------------------


def _v1_hierarchies() -> list[Path]:
    return sorted(
        p for p in CGROUP_V1_ROOT.iterdir() if p.is_dir() and (p / "cgroup.procs").exists()
    )


def prepare_cgroups(cgroup_root: str) -> None:
    """The kubelet's cgroupRoot in every hierarchy; cpuset needs its cpus and mems set before
    anything can join it, and inherits nothing from its parent on v1."""
    for hierarchy in _v1_hierarchies():
        path = hierarchy / cgroup_root.lstrip("/")
        path.mkdir(exist_ok=True)
        if (path / "cpuset.cpus").exists():
            for name in ("cpuset.cpus", "cpuset.mems"):
                (path / name).write_text((hierarchy / name).read_text())


def remove_cgroups(cgroup_root: str) -> None:
    """Every cgroup under cgroupRoot, depth first, in every hierarchy (v1 and the v2 one)."""
    for hierarchy in [*_v1_hierarchies(), CGROUP_V1_ROOT / "unified"]:
        top = hierarchy / cgroup_root.lstrip("/")
        if not top.is_dir():
            continue
        for attempt in range(50):
            dirs = sorted(
                (Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True
            )
            left = False
            for d in dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left = True
                    for pid in _procs_in(d):
                        _kill(pid)
            if not left:
                break
            time.sleep(0.1 if attempt < 49 else 0)


def _procs_in(cgroup: Path) -> list[int]:
    try:
        return [int(x) for x in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)


# mounts ------------------------------------------------------------------------------------


def unmount_under(path: Path) -> None:
    """Every mount at or below path, deepest first (the kubelet bind-mounts its own root;
    containerd's sandboxes and snapshots leave shm and overlay mounts)."""
    prefix = str(path.resolve())
    for _ in range(5):
        mounts = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                mounts.append(point)
        if not mounts:
            return
        for point in sorted(set(mounts), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def remove_node_state(layout: NodeLayout) -> None:
    unmount_under(layout.root)
    unmount_under(layout.run)
    # Sandboxes' network namespaces are bind mounts under /run/netns named cni-*; containerd
    # removes them with their sandboxes, a crash may not.
    shutil.rmtree(layout.root, ignore_errors=True)
    shutil.rmtree(layout.run, ignore_errors=True)
