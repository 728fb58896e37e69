"""Where the cluster's binaries are: built once from their Go modules and cached."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "cluster" / "build-binaries.sh"
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
)
# Set to use binaries from elsewhere (a directory holding all of COMPONENTS).
BIN_DIR_ENV = "MODELDEPLOY_K8S_BIN_DIR"


class BinariesError(RuntimeError):
    pass


def _complete(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in COMPONENTS)


def find_bin_dir(build: bool = True) -> Path:
    """The directory holding every component; builds them (slow, once per machine) if asked."""
    override = os.environ.get(BIN_DIR_ENV)
    if override:
        directory = Path(override)
        if not _complete(directory):
            raise BinariesError(f"{BIN_DIR_ENV}={override} lacks one of {', '.join(COMPONENTS)}")
        return directory
    if not build:
        raise BinariesError("the control-plane binaries are not located without building")
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BinariesError(
            f"{BUILD_SCRIPT} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    directory = Path(lines[-1])
    if not _complete(directory):
        raise BinariesError(f"{BUILD_SCRIPT} printed {directory}, which lacks a component")
    return directory


GO_BINARY_SCRIPT = BUILD_SCRIPT.parent / "build-go-binary.sh"
# Go-built programs that run in the cluster as pods: Prometheus with its Kubernetes service
# discovery (Debian's build leaves it out; the web UI's npm-built assets are not part of the
# module, its HTTP API is) and CoreDNS, the cluster's DNS. Traefik (below) is the third.
GO_BINARIES = {
    "prometheus": ("github.com/prometheus/prometheus/cmd/prometheus", "v0.316.0"),
    "coredns": ("github.com/coredns/coredns", "v1.13.1"),
}


# Traefik, the cluster's Gateway API implementation. Its go.mod replaces modules, so `go install`
# refuses it; its script builds it inside a copy of the module's source instead.
TRAEFIK_SCRIPT = BUILD_SCRIPT.parent / "build-traefik.sh"
TRAEFIK_VERSION = "v3.7.13"


def _run_build(key: str, argv: list[str]) -> Path:
    """Runs a build script that prints the cached program's path last; that path."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BinariesError(
            f"building {key} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        )
    return Path(lines[-1])


def go_binary(key: str, package: str, version: str) -> Path:
    """One program built from its Go module once and cached; its path."""
    return _run_build(key, ["bash", str(GO_BINARY_SCRIPT), key, package, version])


def traefik_binary(version: str = TRAEFIK_VERSION) -> Path:
    """Traefik built from its Go module once and cached; its path."""
    return _run_build("traefik", ["bash", str(TRAEFIK_SCRIPT), version])


def find_go_binaries() -> dict[str, Path]:
    """Every program of GO_BINARIES, and Traefik, built once and cached. One at a time: each
    build already keeps every core busy, and two at once would double the memory."""
    built = {key: go_binary(key, *module) for key, module in GO_BINARIES.items()}
    built["traefik"] = traefik_binary()
    return built


def main() -> None:
    print(find_bin_dir())
    for key, path in find_go_binaries().items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
