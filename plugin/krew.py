"""The kubectl plugin as krew installs it: `kubectl-modeldeploy` frozen by PyInstaller into one
executable that needs no Python on the user's machine, packed into a release archive, and the
krew manifest that names the archive's download address and sha256.

    python -m plugin.krew [--dist DIR] [--base-url URL] [--homepage URL]

writes DIST/kubectl-modeldeploy_<version>_linux_amd64.tar.gz and DIST/modeldeploy.yaml (krew
takes the plugin's name from the manifest's file name). <version> is the project's, from
pyproject.toml. PyInstaller's output differs from one build to the next, so the manifest is
rendered from the archive just built, at release time, and never kept in the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
PLUGIN = "modeldeploy"
BINARY = f"kubectl-{PLUGIN}"
# PyInstaller freezes for the machine it runs on, and only this one is built.
OS, ARCH = "linux", "amd64"
HOST = ("Linux", "x86_64")
REPOSITORY_URL = "https://github.com/modeldeploy/modeldeploy"
# Packed beside the executable once the repository has one: krew's index asks for it.
LICENSE = "LICENSE"

# The development virtualenv PyInstaller runs in holds more than the plugin's dependencies, and
# PyInstaller follows every import it can see, even those the plugin never runs: pydantic's
# mypy plugin, prometheus-api-client's DataFrames and plots, urllib3's optional pyOpenSSL,
# pydantic's pretty-printing through rich. Left out, the executable is less than half the size
# and builds in about half the time.
EXCLUDED_MODULES = (
    "cryptography",
    "hypothesis",
    "IPython",
    "jinja2",
    "matplotlib",
    "mpl_toolkits",
    "mypy",
    "numpy",
    "pandas",
    "PIL",
    "pytest",
    "rich",
    "setuptools",
    "tkinter",
)

SHORT_DESCRIPTION = "Watch, wait for and steer ModelDeployment rollouts"
DESCRIPTION = """\
Reads and steers the rollouts of modeldeploy's ModelDeployments, the operator's
canary, shadow and blue/green releases of ML models gated by Prometheus checks.

  status    the rollout: step, weights, checks, history; --wait exits with its
            outcome (0 Ready, 1 rolled back, Degraded or Failed, 2 timed out)
  get       the ModelDeployment, its revisions, Deployments and checks as a tree
  pause, resume, promote, abort, retry, undo
            steer the rollout by writing an annotation the operator carries out
"""
CAVEATS = """\
The plugin acts on ModelDeployments through the API server; the operator and its
CRDs must be installed in the cluster (the project's Helm chart).

Shell completion: source <(kubectl-modeldeploy completion bash)   (or zsh)
"""


@dataclass(frozen=True)
class Release:
    """What a release of the plugin publishes."""

    archive: Path
    manifest: Path


def project_version(pyproject: Path = PYPROJECT) -> str:
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def entry_point(pyproject: Path = PYPROJECT) -> tuple[str, str]:
    """The module and function the console script `kubectl-modeldeploy` runs: the frozen
    executable runs the same."""
    target = tomllib.loads(pyproject.read_text())["project"]["scripts"][BINARY]
    module, function = str(target).split(":")
    return module, function


def archive_name(version: str) -> str:
    return f"{BINARY}_{version}_{OS}_{ARCH}.tar.gz"


def default_base_url(version: str) -> str:
    return f"{REPOSITORY_URL}/releases/download/v{version}"


def freeze(work: Path) -> Path:
    """The plugin as one executable, built by PyInstaller with everything it writes in `work`;
    its path."""
    if (platform.system(), platform.machine()) != HOST:
        raise RuntimeError(
            f"PyInstaller builds for the machine it runs on: {OS}/{ARCH} needs a "
            f"{'/'.join(HOST)} machine, not {platform.system()}/{platform.machine()}"
        )
    module, function = entry_point()
    script = work / "entry.py"
    script.write_text(f"import sys\n\nfrom {module} import {function}\n\nsys.exit({function}())\n")
    excludes = [arg for name in EXCLUDED_MODULES for arg in ("--exclude-module", name)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--onefile",
            "--noconfirm",
            "--log-level=WARN",
            f"--name={BINARY}",
            f"--distpath={work / 'dist'}",
            f"--workpath={work / 'build'}",
            f"--specpath={work}",
            *excludes,
            str(script),
        ],
        check=True,
    )
    return work / "dist" / BINARY


def _unowned(member: tarfile.TarInfo) -> tarfile.TarInfo:
    # The builder's user and group mean nothing where the archive is unpacked.
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def pack(binary: Path, archive: Path, repo: Path = REPO) -> Path:
    """The executable, and the repository's license file if it has one, at the root of a
    gzipped tar archive, the layout krew unpacks by default."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(binary, arcname=BINARY, filter=_unowned)
        if (repo / LICENSE).is_file():
            tar.add(repo / LICENSE, arcname=LICENSE, filter=_unowned)
    return archive


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(archive: Path, version: str, base_url: str, homepage: str) -> dict[str, Any]:
    """krew's Plugin manifest for the archive, downloaded from `base_url`."""
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": PLUGIN},
        "spec": {
            "version": f"v{version}",
            "homepage": homepage,
            "shortDescription": SHORT_DESCRIPTION,
            "description": DESCRIPTION,
            "caveats": CAVEATS,
            "platforms": [
                {
                    "selector": {"matchLabels": {"os": OS, "arch": ARCH}},
                    "uri": f"{base_url.rstrip('/')}/{archive.name}",
                    "sha256": sha256_of(archive),
                    "bin": BINARY,
                }
            ],
        },
    }


class _ManifestDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, as the manifests in krew's index are written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def dump_manifest(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_ManifestDumper, sort_keys=False, width=100)


def build(dist: Path, base_url: str | None = None, homepage: str = REPOSITORY_URL) -> Release:
    """The archive and its manifest, written to `dist`."""
    version = project_version()
    with tempfile.TemporaryDirectory(prefix="plugin-build-") as work:
        archive = pack(freeze(Path(work)), dist / archive_name(version))
    document = manifest(archive, version, base_url or default_base_url(version), homepage)
    path = dist / f"{PLUGIN}.yaml"
    path.write_text(dump_manifest(document))
    return Release(archive=archive, manifest=path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plugin.krew",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where both are written")
    parser.add_argument(
        "--base-url",
        help="where the archive is downloaded from, without its name "
        f"(default: {default_base_url('<version>')})",
    )
    parser.add_argument("--homepage", default=REPOSITORY_URL)
    args = parser.parse_args(argv)
    release = build(args.dist, args.base_url, args.homepage)
    print(release.archive)
    print(release.manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
