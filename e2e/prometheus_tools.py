"""Prometheus and promtool for the tests that run them on this machine (the analysis tests
query a local Prometheus server and have promtool parse the built-in queries).

    python -m e2e.prometheus_tools

Both come from the Prometheus module at the version the cluster's Prometheus is built from, so
the tests judge the same PromQL engine the checks meet in the cluster; each is built once and
cached by version like the cluster's Go programs. Prints, on its last line, a PATH fragment
holding both.
"""

from __future__ import annotations

import os
from pathlib import Path

from e2e.localcluster.binaries import GO_BINARIES, go_binary

PROMETHEUS_PACKAGE, PROMETHEUS_VERSION = GO_BINARIES["prometheus"]
# promtool lives beside the server's command in the same module.
PROMTOOL_PACKAGE = PROMETHEUS_PACKAGE.rsplit("/", 1)[0] + "/promtool"
TOOLS = {"prometheus": PROMETHEUS_PACKAGE, "promtool": PROMTOOL_PACKAGE}


def prometheus_tools() -> dict[str, Path]:
    """Each tool's path, built first where the cache lacks it."""
    return {name: go_binary(name, package, PROMETHEUS_VERSION) for name, package in TOOLS.items()}


def search_path(tools: dict[str, Path]) -> str:
    """A PATH fragment under which every tool is found by its name."""
    directories = dict.fromkeys(str(path.parent) for path in tools.values())
    return os.pathsep.join(directories)


def main() -> None:
    print(search_path(prometheus_tools()))


if __name__ == "__main__":
    main()
