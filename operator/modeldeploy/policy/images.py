"""Container image references, parsed into their parts as the container runtime reads them, and
the entries of a policy's `allowedImages`, compared by those parts.

A reference is `[registry[:port]/]path[:tag][@digest]` (the grammar of the distribution
project's `reference` package). Without a registry it names Docker Hub, `docker.io`, and a path
of one component is under `library/`, as containerd and Docker read it: `modeldeploy/serving`
is `docker.io/modeldeploy/serving`. Without a tag or digest the tag is `latest`.

An entry is one of:

- `registry.example.com/` (or `registry.example.com`): every repository in that registry;
- `registry.example.com/ml/`: every repository under `ml/`, by whole path components, so not
  `ml-evil/x`, nor `ml` itself;
- `registry.example.com/ml/server`: that repository, at any tag or digest;
- `registry.example.com/ml/server:1` or `...@sha256:...`: that tag (and no digest, which would
  name another image) or that digest.

Registry hosts compare without regard to case; a port is part of the registry (`r.io:443` is
not `r.io`), as the runtime's registry configuration keys them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

DOCKER_HUB = "docker.io"
_LEGACY_DOCKER_HUB = "index.docker.io"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_MAX_NAME = 255


class ImageError(ValueError):
    """No image reference; the message says why."""


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: tuple[str, ...]
    tag: str | None
    digest: str | None


class EntryKind(StrEnum):
    REGISTRY = "registry"
    NAMESPACE = "namespace"
    REPOSITORY = "repository"
    REFERENCE = "reference"


@dataclass(frozen=True)
class ImageEntry:
    kind: EntryKind
    registry: str
    path: tuple[str, ...] = ()
    tag: str | None = None
    digest: str | None = None

    def admits(self, image: ImageRef) -> bool:
        if image.registry != self.registry:
            return False
        if self.kind is EntryKind.REGISTRY:
            return True
        if self.kind is EntryKind.NAMESPACE:
            return len(image.path) > len(self.path) and image.path[: len(self.path)] == self.path
        if image.path != self.path:
            return False
        if self.kind is EntryKind.REPOSITORY:
            return True
        if self.digest is not None:
            return image.digest == self.digest and self.tag in (None, image.tag)
        return image.tag == self.tag and image.digest is None


def _is_registry(component: str) -> bool:
    """Whether the first component of a name is a registry, as the runtime decides: it has a
    dot or a port, is localhost, or is not all lower case (no path component may be)."""
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
    )


def _registry(component: str) -> str:
    if not _DOMAIN.fullmatch(component):
        raise ImageError(f"{component!r} is no registry host")
    host = component.lower()
    return DOCKER_HUB if host == _LEGACY_DOCKER_HUB else host


def _split_name(name: str, hub_library: bool = True) -> tuple[str, tuple[str, ...]]:
    """A name (no tag, no digest) as its registry and its path; `hub_library`: a Docker Hub
    path of one component is under library/."""
    first, slash, rest = name.partition("/")
    if slash and _is_registry(first):
        registry, remainder = _registry(first), rest
    else:
        registry, remainder = DOCKER_HUB, name
    path = tuple(remainder.split("/"))
    for component in path:
        if not _PATH_COMPONENT.fullmatch(component):
            raise ImageError(
                f"{component!r} is no repository path component (lower-case letters and digits, "
                "separated by ., _, __ or -)"
            )
    if hub_library and registry == DOCKER_HUB and len(path) == 1:
        path = ("library", *path)
    return registry, path


def parse_image(text: str) -> ImageRef:
    """`text` as the container runtime reads it."""
    name, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ImageError(f"{digest!r} is no digest (algorithm:hex)")
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ImageError(f"{tag!r} is no tag")
    if not name or len(name) > _MAX_NAME:
        raise ImageError(f"its name must have 1 to {_MAX_NAME} characters")
    registry, path = _split_name(name)
    if tag is None and not at:
        tag = "latest"
    return ImageRef(registry, path, tag, digest if at else None)


def _names_registry(text: str) -> bool:
    """An entry without a slash that is a registry host: one with a dot, or localhost (with a
    port or not); `ubuntu:22` or `myregistry:5000` is an image, as the runtime reads it."""
    named = "." in text or text == "localhost" or text.startswith("localhost:")
    return named and _DOMAIN.fullmatch(text) is not None


def parse_image_entry(text: str) -> ImageEntry:
    """An entry of `allowedImages` (see the module's docstring)."""
    trimmed = text.removesuffix("/")
    if "/" not in trimmed and (
        (text.endswith("/") and _is_registry(trimmed)) or _names_registry(trimmed)
    ):
        return ImageEntry(EntryKind.REGISTRY, _registry(trimmed))
    if text.endswith("/"):
        registry, path = _split_name(trimmed, hub_library=False)
        return ImageEntry(EntryKind.NAMESPACE, registry, path)
    image = parse_image(text)
    if "@" in text or text.rfind(":") > text.rfind("/"):
        return ImageEntry(EntryKind.REFERENCE, image.registry, image.path, image.tag, image.digest)
    return ImageEntry(EntryKind.REPOSITORY, image.registry, image.path)
