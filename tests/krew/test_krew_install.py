"""The plugin as krew installs it: the archive and manifest `make plugin-archive` writes (built
once for the module, by PyInstaller), the manifest accepted by krew's own validator, and krew
installing the plugin from them, after which the executable krew put in its bin folder runs
where no Python of the project is: its help, its completion script, and as `kubectl
modeldeploy`, a rollout paused on the fake API server."""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from e2e.fixtures import built, kubectl_binary
from modeldeploy.api.commands import PAUSED
from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from plugin import krew
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, install_crds, model_deployment

NAME = "iris"
PLUGIN_VERSION = krew.project_version()
ARCHIVE = f"kubectl-modeldeploy_{PLUGIN_VERSION}_linux_amd64.tar.gz"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> krew.Release:
    return krew.build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def krew_binary() -> Path:
    return built("build-krew.sh")


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as running:
        install_crds(running)
        yield running


def platform_of(release: krew.Release) -> dict[str, Any]:
    document = yaml.safe_load(release.manifest.read_text())
    (platform,) = document["spec"]["platforms"]
    return dict(platform)


def run(argv: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv], env=env, capture_output=True, text=True, check=False
    )


def test_the_manifest_names_the_archive_by_its_release_address_and_sha256(
    release: krew.Release,
) -> None:
    assert release.archive.name == ARCHIVE
    assert release.manifest.name == "modeldeploy.yaml"
    document = yaml.safe_load(release.manifest.read_text())
    assert document["metadata"]["name"] == "modeldeploy"
    assert document["spec"]["version"] == f"v{PLUGIN_VERSION}"
    platform = platform_of(release)
    assert platform["selector"] == {"matchLabels": {"os": "linux", "arch": "amd64"}}
    assert platform["sha256"] == hashlib.sha256(release.archive.read_bytes()).hexdigest()
    assert platform["uri"] == (
        f"https://github.com/modeldeploy/modeldeploy/releases/download/v{PLUGIN_VERSION}/{ARCHIVE}"
    )
    assert platform["bin"] == "kubectl-modeldeploy"
    with tarfile.open(release.archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    license_ = ["LICENSE"] if (krew.REPO / krew.LICENSE).is_file() else []
    assert sorted(members) == sorted(["kubectl-modeldeploy", *license_])
    assert members["kubectl-modeldeploy"].mode & 0o111 == 0o111


def test_the_license_file_is_packed_beside_the_executable(tmp_path: Path) -> None:
    (tmp_path / "LICENSE").write_text("the license\n")
    executable = tmp_path / "kubectl-modeldeploy"
    executable.write_text("#!/bin/sh\n")
    archive = krew.pack(executable, tmp_path / "dist" / ARCHIVE, repo=tmp_path)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["LICENSE", "kubectl-modeldeploy"]
        assert {(m.uid, m.gid, m.uname, m.gname) for m in tar.getmembers()} == {(0, 0, "", "")}


def test_krews_validator_accepts_the_manifest(release: krew.Release, krew_binary: Path) -> None:
    validator = krew_binary.parent / "validate-krew-manifest"
    # Without -skip-install it would download the archive from its release address, which
    # exists once the release is published; the install test below installs the built archive.
    result = run([validator, "-manifest", release.manifest, "-skip-install"], env={})
    assert result.returncode == 0, result.stderr
    assert "structural validation OK" in result.stderr


def test_krew_refuses_the_archive_under_another_sha256(
    release: krew.Release, krew_binary: Path, tmp_path: Path
) -> None:
    document = yaml.safe_load(release.manifest.read_text())
    document["spec"]["platforms"][0]["sha256"] = "0" * 64
    manifest = tmp_path / "modeldeploy.yaml"
    manifest.write_text(yaml.safe_dump(document))
    env = {"HOME": str(tmp_path), "KREW_ROOT": str(tmp_path / "krew")}
    refused = run(
        [krew_binary, "install", f"--manifest={manifest}", f"--archive={release.archive}"], env
    )
    assert refused.returncode != 0
    assert "checksum does not match" in refused.stderr
    assert not (tmp_path / "krew" / "bin" / "kubectl-modeldeploy").exists()


def test_krew_installs_the_plugin_and_kubectl_runs_it(
    release: krew.Release, krew_binary: Path, server: FakeApiServer, tmp_path: Path
) -> None:
    root = tmp_path / "krew"
    kubectl = Path(kubectl_binary())
    # Nothing from this machine's environment: no Python of the project, no kubeconfig.
    env = {
        "PATH": f"{root / 'bin'}:{kubectl.parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KREW_ROOT": str(root),
    }
    installed = run(
        [krew_binary, "install", f"--manifest={release.manifest}", f"--archive={release.archive}"],
        env,
    )
    assert installed.returncode == 0, installed.stderr
    assert "Installed plugin: modeldeploy" in installed.stderr

    receipt = yaml.safe_load((root / "receipts" / "modeldeploy.yaml").read_text())
    assert receipt["spec"]["version"] == f"v{PLUGIN_VERSION}"
    assert receipt["spec"]["platforms"][0]["sha256"] == platform_of(release)["sha256"]
    plugin = root / "bin" / "kubectl-modeldeploy"
    store = root / "store" / "modeldeploy" / f"v{PLUGIN_VERSION}" / "kubectl-modeldeploy"
    assert plugin.resolve() == store.resolve()

    shown = run([plugin, "--help"], env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: kubectl modeldeploy ")
    for verb in ("status", "get", "pause", "resume", "promote", "abort", "retry", "undo"):
        assert f"    {verb} " in shown.stdout

    completion = run([plugin, "completion", "bash"], env)
    assert completion.returncode == 0, completion.stderr
    assert "complete -F" in completion.stdout

    custom = client.CustomObjectsApi(api_client(server))
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, model_deployment(NAME, "v1")
    )
    kubeconfig = server.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    paused = run([kubectl, "modeldeploy", "--kubeconfig", kubeconfig, "pause", NAME], env)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == f"modeldeployment {NAMESPACE}/{NAME}: pause requested\n"
    body: Any = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)
    assert body["metadata"]["annotations"][PAUSED] == "true"
