"""Which local command stands in for a container image."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_IMAGE_MAP = Path(__file__).with_name("default-image-map.yaml")


class ImageMapError(ValueError):
    """The image map file is malformed."""


@dataclass(frozen=True)
class ImageRule:
    pattern: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImageMap:
    rules: tuple[ImageRule, ...]
    commands: Mapping[str, str] = field(default_factory=dict)
    source: str = "<inline>"

    def resolve(self, image: str) -> ImageRule | None:
        candidates = {image, normalize_image(image)}
        for rule in self.rules:
            if any(fnmatch.fnmatchcase(c, rule.pattern) for c in candidates):
                return rule
        return None

    def rewrite_command(self, argv: Sequence[str]) -> list[str]:
        """Maps the first word of a command through `commands` (templated by the caller)."""
        if not argv:
            return []
        return [self.commands.get(argv[0], argv[0]), *argv[1:]]


def normalize_image(image: str) -> str:
    """The reference as a short name with a tag: docker.io/library/python -> python:latest."""
    name = image.split("@", 1)[0]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    return name


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageMapError(f"{where} must be a list of strings")
    return tuple(value)


def parse_image_map(data: Any, source: str = "<inline>") -> ImageMap:
    if not isinstance(data, dict):
        raise ImageMapError(f"{source}: the image map must be a mapping")
    rules = []
    for i, raw in enumerate(data.get("images") or []):
        where = f"{source}: images[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("image"), str):
            raise ImageMapError(f"{where} needs an `image` pattern")
        entrypoint = _str_list(raw.get("entrypoint"), f"{where}.entrypoint")
        cmd = _str_list(raw.get("cmd"), f"{where}.cmd")
        if not entrypoint and not cmd:
            raise ImageMapError(f"{where} needs an entrypoint or a cmd")
        env = raw.get("env") or {}
        if not isinstance(env, dict):
            raise ImageMapError(f"{where}.env must be a mapping")
        rules.append(
            ImageRule(
                pattern=raw["image"],
                entrypoint=entrypoint,
                cmd=cmd,
                env=tuple((str(k), str(v)) for k, v in env.items()),
            )
        )
    commands = data.get("commands") or {}
    if not isinstance(commands, dict):
        raise ImageMapError(f"{source}: commands must be a mapping")
    return ImageMap(
        rules=tuple(rules),
        commands={str(k): str(v) for k, v in commands.items()},
        source=source,
    )


def load_image_map(path: Path | None = None) -> ImageMap:
    path = path or DEFAULT_IMAGE_MAP
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ImageMapError(f"cannot read image map {path}: {exc}") from exc
    return parse_image_map(data, str(path))


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Replaces {name} placeholders that are known; other braces are left as written."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text
