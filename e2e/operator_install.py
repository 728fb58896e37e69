"""Installs the operator into a cluster the way a platform team would: the Helm chart, its own
namespace, ServiceAccount and RBAC, two replicas electing a leader.

    python -m e2e.operator_install [--kubeconfig PATH] [--set key=value ...]

Waits until the Deployment is Available and one replica holds the Lease.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e.localcluster.cluster import REPO_ROOT

CHART = REPO_ROOT / "charts" / "modeldeploy"
RELEASE = "modeldeploy"
NAMESPACE = "modeldeploy-system"
LEASE = "modeldeploy-operator"
HELM_SCRIPT = REPO_ROOT / "e2e" / "cluster" / "build-helm.sh"
BINARIES_SCRIPT = REPO_ROOT / "e2e" / "cluster" / "build-binaries.sh"
# The local cluster's Prometheus, which scrapes every 2 s: a few seconds of window hold
# enough samples. On other clusters pass --set prometheus.url=... instead.
LOCAL_VALUES = (
    "prometheus.url=http://prometheus.monitoring.svc.cluster.local:9090",
    "minCheckWindow=6s",
    # The scenarios' webhook receivers listen at the node's (private) address.
    "notifications.allowPrivateTargets=true",
)


class InstallError(RuntimeError):
    pass


def _last_line(script: Path) -> Path:
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise InstallError(f"{script} failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Installed:
    release: str
    namespace: str
    leader: str


def _kubectl_json(kubectl: Path, kubeconfig: Path, *args: str) -> dict[str, object] | None:
    out = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return None
    data: dict[str, object] = json.loads(out.stdout)
    return data


def lease_holder(kubectl: Path, kubeconfig: Path, namespace: str = NAMESPACE) -> str | None:
    """The holder of the operator's Lease, if it renewed within the Lease's duration."""
    lease = _kubectl_json(kubectl, kubeconfig, "-n", namespace, "get", "lease", LEASE)
    spec = lease.get("spec") if lease else None
    if not isinstance(spec, dict) or not spec.get("holderIdentity") or not spec.get("renewTime"):
        return None
    renewed = datetime.datetime.fromisoformat(str(spec["renewTime"]).replace("Z", "+00:00"))
    age = (datetime.datetime.now(datetime.UTC) - renewed).total_seconds()
    if age > float(spec.get("leaseDurationSeconds") or 10):
        return None
    return str(spec["holderIdentity"])


def install_operator(
    kubeconfig: Path,
    values: Sequence[str] = (),
    *,
    namespace: str = NAMESPACE,
    timeout_s: float = 300,
    chart: Path = CHART,
) -> Installed:
    helm = _last_line(HELM_SCRIPT)
    kubectl = _last_line(BINARIES_SCRIPT) / "kubectl"
    argv = [
        str(helm),
        "upgrade",
        "--install",
        RELEASE,
        str(chart),
        f"--kubeconfig={kubeconfig}",
        f"--namespace={namespace}",
        "--create-namespace",
        # The tests apply the CRDs before any install (an operator run outside the cluster
        # needs them too); the release takes them over as an upgrade from 0.1 does.
        "--take-ownership",
        "--wait",
        f"--timeout={int(timeout_s)}s",
    ]
    for value in (*LOCAL_VALUES, *values):
        argv.append(f"--set={value}")
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InstallError(f"helm install failed: {result.stderr.strip()}")
    deadline = time.monotonic() + timeout_s
    while (holder := lease_holder(kubectl, kubeconfig, namespace)) is None:
        if time.monotonic() > deadline:
            raise InstallError(f"no replica holds the Lease {namespace}/{LEASE}")
        time.sleep(0.5)
    return Installed(RELEASE, namespace, holder)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m e2e.operator_install")
    parser.add_argument("--kubeconfig", type=Path, default=REPO_ROOT / ".cluster" / "kubeconfig")
    parser.add_argument("--set", dest="values", action="append", default=[])
    args = parser.parse_args()
    installed = install_operator(args.kubeconfig.resolve(), args.values)
    print(
        f"release {installed.release} installed in namespace {installed.namespace}; "
        f"leader: {installed.leader}"
    )


if __name__ == "__main__":
    main()
