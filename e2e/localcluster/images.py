"""The images the local cluster runs, built here without a registry.

A Debian bookworm base is made from Debian's packages with mmdebstrap; the operator, serving,
S3, Prometheus, CoreDNS, Traefik and pause images are built from their Dockerfiles with buildah
on top of it and saved as docker-archive tars, which containerd imports. Everything is cached under
~/.cache/modeldeploy/images, keyed by a hash of what goes into each image, so that only a
change rebuilds.

    python -m e2e.localcluster.images        # builds what is missing, prints key=name=tar
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("MODELDEPLOY_CACHE", Path.home() / ".cache" / "modeldeploy"))
IMAGES_DIR = CACHE_DIR / "images"
# Image builds kept per image, the most recently used.
KEPT_BUILDS = 3
DEBIAN_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_IMAGE = f"localhost/modeldeploy/debian-base:{DEBIAN_SUITE}"
VERSION = "0.1.0"
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class ImageRecipe:
    """How one image is built: a Containerfile, its context and the files that shape it."""

    name: str  # the reference pods use, as containerd normalises it
    containerfile: Path
    context: Path
    inputs: tuple[Path, ...]
    build_args: dict[str, str] = field(default_factory=dict)
    extra_files: dict[str, Path] = field(default_factory=dict)  # name in context -> source


def _git_files(*paths: Path) -> tuple[Path, ...]:
    out = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--", *map(str, paths)],
        capture_output=True,
        check=True,
    ).stdout
    return tuple(sorted(REPO_ROOT / p for p in out.decode().split("\0") if p))


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def _recipe_key(recipe: ImageRecipe, base_key: str) -> str:
    parts: list[bytes] = [recipe.name.encode(), base_key.encode()]
    parts += [f"{k}={v}".encode() for k, v in sorted(recipe.build_args.items())]
    for path in (*recipe.inputs, *recipe.extra_files.values()):
        label = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path.name
        parts += [str(label).encode(), path.read_bytes()]
    return _digest(parts)


def _mirror() -> str:
    """The Debian mirror the machine's apt uses (mmdebstrap would otherwise ask on stdin)."""
    for source in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if (
                words[:1] == ["URIs:"]
                and len(words) > 1
                and words[1].rstrip("/").endswith("/debian")
            ):
                return words[1]
            if words[:1] == ["deb"] and "/debian" in line and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


class ImageBuilder:
    def __init__(self, cache_dir: Path = IMAGES_DIR) -> None:
        self.cache_dir = cache_dir
        self.storage = cache_dir / "buildah-storage"
        self.runroot = Path(tempfile.gettempdir()) / "modeldeploy-buildah-run"

    def _buildah(self, *args: str, log: Path) -> None:
        argv = [
            "buildah",
            "--storage-driver=vfs",
            f"--root={self.storage}",
            f"--runroot={self.runroot}",
            *args,
        ]
        with log.open("ab") as out:
            out.write(f"$ {' '.join(argv)}\n".encode())
            out.flush()
            result = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
            )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise ImageBuildError(f"buildah {args[0]} failed (exit {result.returncode}):\n{tail}")

    def base(self) -> str:
        """Builds the Debian base image once; returns its cache key."""
        key = _digest([DEBIAN_SUITE.encode(), *(p.encode() for p in BASE_PACKAGES)])
        stamp = self.cache_dir / f"debian-base-{key}.built"
        if stamp.exists():
            return key
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        log = self.cache_dir / "build.log"
        with tempfile.TemporaryDirectory(prefix="modeldeploy-base-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            argv = [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                _mirror(),
            ]
            with log.open("ab") as out:
                result = subprocess.run(
                    argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            if result.returncode != 0:
                raise ImageBuildError(f"mmdebstrap failed; see {log}")
            containerfile = Path(tmp) / "Containerfile"
            containerfile.write_text('FROM scratch\nADD rootfs.tar /\nCMD ["/bin/sh"]\n')
            self._buildah(
                "build", "--isolation=chroot", "-q", "-t", BASE_IMAGE, "-f",
                str(containerfile), tmp, log=log,
            )  # fmt: skip
        stamp.touch()
        return key

    def build(self, recipe: ImageRecipe) -> Path:
        """The docker-archive tar of recipe's image, built unless an identical one is cached."""
        base_key = self.base()
        key = _recipe_key(recipe, base_key)
        slug = recipe.name.rsplit("/", 1)[-1].replace(":", "-")
        tar = self.cache_dir / f"{slug}-{key}.tar"
        if tar.exists():
            tar.touch()  # recently used: kept when older builds are dropped
            return tar
        log = self.cache_dir / "build.log"
        with tempfile.TemporaryDirectory(prefix="modeldeploy-context-") as tmp:
            context = recipe.context
            if recipe.extra_files:
                # A private copy of the context with the extra files (binaries) beside it.
                context = Path(tmp) / "context"
                shutil.copytree(recipe.context, context, symlinks=True)
                for name, source in recipe.extra_files.items():
                    shutil.copy2(source, context / name)
            args = ["build", "--isolation=chroot", "--network=host", "-q", "-t", recipe.name]
            args += _lent_trust(Path(tmp))
            args += ["--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}"]
            for k, v in sorted(recipe.build_args.items()):
                args += ["--build-arg", f"{k}={v}"]
            args += ["-f", str(recipe.containerfile), str(context)]
            self._buildah(*args, log=log)
        partial = tar.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        self._buildah("push", "-q", recipe.name, f"docker-archive:{partial}:{recipe.name}", log=log)
        partial.replace(tar)
        # The image this one replaced under its name is untagged now; vfs storage keeps a full
        # copy of every layer, so unused ones go (the tar above is what pods run).
        with contextlib.suppress(ImageBuildError):
            self._buildah("rmi", "--prune", log=log)
        # A few builds per image stay, so that going back and forth between two versions of
        # the sources (a branch and its base, a clone and its origin) rebuilds nothing.
        builds = sorted(self.cache_dir.glob(f"{slug}-*.tar"), key=lambda t: t.stat().st_mtime)
        for stale in builds[:-KEPT_BUILDS]:
            stale.unlink()
        return tar


def _lent_trust(tmp: Path) -> list[str]:
    """Volumes that lend RUN steps the host's CA bundle and tell pip to use it, so that builds
    work where a proxy re-signs TLS. Volumes are not part of any layer: the images keep
    Debian's own bundle."""
    bundle = HOST_CA_BUNDLE
    if not bundle.is_file():
        return []
    pip_conf = tmp / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {IMAGE_CA_BUNDLE}\n")
    return ["-v", f"{bundle}:{IMAGE_CA_BUNDLE}:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro"]


def _pause_binary() -> Path:
    """The pause program, compiled statically (it runs in an otherwise empty image)."""
    source = REPO_ROOT / "images" / "pause" / "pause.c"
    key = _digest([source.read_bytes()])
    binary = IMAGES_DIR / f"pause-{key}.bin"
    if not binary.exists():
        IMAGES_DIR.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".partial")
        subprocess.run(["gcc", "-static", "-O2", "-o", str(partial), str(source)], check=True)
        partial.replace(binary)
    return binary


def recipes(binaries: Mapping[str, Path] | None = None) -> dict[str, ImageRecipe]:
    binaries = binaries or {}
    serving = REPO_ROOT / "serving-image"
    out = {
        "pause": ImageRecipe(
            name=f"docker.io/modeldeploy/pause:{VERSION}",
            containerfile=REPO_ROOT / "images" / "pause" / "Containerfile",
            context=REPO_ROOT / "images" / "pause",
            inputs=_git_files(Path("images/pause")),
            extra_files={"pause": _pause_binary()},
        ),
        "operator": ImageRecipe(
            name=f"docker.io/modeldeploy/operator:{VERSION}",
            containerfile=REPO_ROOT / "Dockerfile",
            context=REPO_ROOT,
            inputs=_git_files(
                Path("Dockerfile"),
                Path(".dockerignore"),
                Path("constraints.txt"),
                Path("pyproject.toml"),
                Path("README.md"),
                Path("operator"),
            ),
        ),
        "serving": ImageRecipe(
            name=f"docker.io/modeldeploy/serving:{VERSION}",
            containerfile=serving / "Dockerfile",
            context=serving,
            inputs=tuple(
                p for p in _git_files(Path("serving-image")) if "/tests/" not in p.as_posix()
            ),
        ),
        "s3": ImageRecipe(
            name=f"docker.io/modeldeploy/s3:{VERSION}",
            containerfile=REPO_ROOT / "images" / "s3" / "Containerfile",
            context=REPO_ROOT / "images" / "s3",
            inputs=_git_files(Path("images/s3")),
        ),
    }
    for key, binary in sorted(binaries.items()):
        # Static Go binaries, each alone in an image: images/<key>/Containerfile.
        out[key] = ImageRecipe(
            name=f"docker.io/modeldeploy/{key}:{VERSION}",
            containerfile=REPO_ROOT / "images" / key / "Containerfile",
            context=REPO_ROOT / "images" / key,
            inputs=_git_files(Path("images") / key),
            extra_files={key: binary},
        )
    return out


def build_all(binaries: Mapping[str, Path] | None = None) -> dict[str, tuple[str, Path]]:
    """name -> (image reference, docker-archive tar) for every image the cluster runs;
    binaries are the Go-built programs that get an image each (prometheus, coredns, traefik)."""
    builder = ImageBuilder()
    return {key: (recipe.name, builder.build(recipe)) for key, recipe in recipes(binaries).items()}


def main() -> None:
    from e2e.localcluster.binaries import find_go_binaries

    for key, (name, tar) in build_all(find_go_binaries()).items():
        print(f"{key}={name}={tar}")


if __name__ == "__main__":
    main()
