"""The Gateway API's standard CRDs, taken from the sigs.k8s.io/gateway-api Go module."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import yaml

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
# The newest release whose go.mod the Go toolchain in use here accepts; a newer one is read
# from its module zip all the same (see _module_files), so raising this needs no other change.
GATEWAY_API_VERSION = os.environ.get("GATEWAY_API_VERSION", "v1.6.3")
CRD_SUBDIR = "config/crd/standard"


class GatewayApiError(RuntimeError):
    pass


def cache_dir(version: str = GATEWAY_API_VERSION) -> Path:
    root = Path(os.environ.get("MODELDEPLOY_CACHE", Path.home() / ".cache" / "modeldeploy"))
    return root / f"gateway-api-{version}" / "standard"


def _download(version: str) -> dict[str, str]:
    go = shutil.which("go")
    if not go:
        raise GatewayApiError("go is needed once to fetch the Gateway API CRDs")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [go, "mod", "init", "modeldeploy.local/gateway-api-crds"],
            cwd=tmp,
            capture_output=True,
            check=True,
        )
        result = subprocess.run(
            [go, "mod", "download", "-json", f"{GATEWAY_API_MODULE}@{version}"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "GOFLAGS": "-mod=mod"},
        )
    try:
        info: dict[str, str] = json.loads(result.stdout)
    except ValueError as exc:
        raise GatewayApiError(f"go mod download failed: {result.stderr[-2000:]}") from exc
    return info


def _module_files(info: dict[str, str], version: str) -> dict[str, bytes]:
    """The standard CRD files, from the extracted module or, failing that, its zip.

    `go mod download` refuses to extract a module whose go.mod needs a newer toolchain but
    still leaves the verified zip in the module cache.
    """
    directory = info.get("Dir")
    if directory and (Path(directory) / CRD_SUBDIR).is_dir():
        return {
            p.name: p.read_bytes() for p in sorted((Path(directory) / CRD_SUBDIR).glob("*.yaml"))
        }
    archive = info.get("Zip")
    if not archive or not Path(archive).is_file():
        raise GatewayApiError(f"{GATEWAY_API_MODULE}@{version}: {info.get('Error', 'not found')}")
    prefix = f"{GATEWAY_API_MODULE}@{version}/{CRD_SUBDIR}/"
    with zipfile.ZipFile(archive) as zipped:
        return {
            name[len(prefix) :]: zipped.read(name)
            for name in zipped.namelist()
            if name.startswith(prefix) and name.endswith(".yaml") and "/" not in name[len(prefix) :]
        }


def crd_dir(version: str = GATEWAY_API_VERSION) -> Path:
    """A directory of the standard channel's YAML files, fetched on first use and cached."""
    target = cache_dir(version)
    if target.is_dir() and any(target.glob("*.yaml")):
        return target
    files = _module_files(_download(version), version)
    if not files:
        raise GatewayApiError(f"{GATEWAY_API_MODULE}@{version} has no {CRD_SUBDIR}/*.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    staging.chmod(0o755)
    for name, data in files.items():
        (staging / name).write_bytes(data)
    try:
        staging.rename(target)
    except OSError:
        # Another process filled the cache first.
        shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():
            raise
    return target


def crd_names(directory: Path) -> list[str]:
    names = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                names.append(str(doc["metadata"]["name"]))
    return names


def install(kubectl: Path, kubeconfig: Path, directory: Path, timeout_s: float = 60) -> None:
    """Applies the CRDs server-side (they exceed the client-side annotation limit) and waits
    until the API server serves them."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    applied = subprocess.run(
        [str(kubectl), "apply", "--server-side", "--force-conflicts", "-f", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=timeout_s,
    )
    if applied.returncode != 0:
        raise GatewayApiError(f"applying the Gateway API CRDs failed:\n{applied.stderr[-4000:]}")
    waited = subprocess.run(
        [str(kubectl), "wait", "--for=condition=Established", f"--timeout={int(timeout_s)}s"]
        + [f"crd/{name}" for name in crd_names(directory)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=timeout_s + 5,
    )
    if waited.returncode != 0:
        raise GatewayApiError(f"the Gateway API CRDs did not become established:\n{waited.stderr}")
