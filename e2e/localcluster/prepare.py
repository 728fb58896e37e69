"""Builds everything the local cluster needs, once per machine, as fast as two cores allow.

    python -m e2e.localcluster.prepare [--without-test-tools]

The Go builds (Kubernetes, etcd, Prometheus, CoreDNS, Traefik, helm, and the GitOps judges
the scenarios use: kstatus and Argo CD's Lua interpreter, which `--without-test-tools` leaves
out, as `make cluster-up` and `make demo` do) are CPU-bound, and run one after
the other; the image builds that need none of them (the Debian base, the operator, serving,
model-store and pause images) mostly wait on the network and the disk. The two run side by
side; the images that carry a Go-built program follow. Everything lands in caches keyed by
version or content, so a second run only checks them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import time
from pathlib import Path

from e2e.localcluster import images
from e2e.localcluster.binaries import BUILD_SCRIPT, find_bin_dir, find_go_binaries

HELM_SCRIPT = BUILD_SCRIPT.parent / "build-helm.sh"
GITOPS_TOOLS_SCRIPT = BUILD_SCRIPT.parent / "build-gitops-tools.sh"


def _go_builds(test_tools: bool) -> dict[str, Path]:
    find_bin_dir()
    built = find_go_binaries()
    for script in (HELM_SCRIPT, GITOPS_TOOLS_SCRIPT) if test_tools else (HELM_SCRIPT,):
        subprocess.run(["bash", str(script)], check=True, capture_output=True)
    return built


def _python_images() -> None:
    builder = images.ImageBuilder()
    for recipe in images.recipes().values():
        builder.build(recipe)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster.prepare")
    parser.add_argument(
        "--without-test-tools", action="store_true", help="only what a running cluster needs"
    )
    args = parser.parse_args()
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        go = pool.submit(_go_builds, not args.without_test_tools)
        python_images = pool.submit(_python_images)
        go_binaries = go.result()
        python_images.result()
    images.build_all(go_binaries)
    print(f"local cluster prepared in {time.monotonic() - began:.0f}s")


if __name__ == "__main__":
    main()
