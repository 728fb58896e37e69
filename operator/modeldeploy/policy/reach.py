"""What a ModelDeployment may reach under a policy: where its model comes from
(`allowedModelUris`, `allowedModelEndpoints`), what its pods run (`allowedImages`), and what of
the serving container's environment and file system a spec could use to get around either.

- The model URI and the image are parsed and compared by their parts (`uris`, `images`).
- A policy that restricts where models come from (`allowedModelUris` or
  `allowedModelEndpoints`) admits an S3 endpoint override or a proxy (api.envnames' ENDPOINT
  names) only with a value written in the spec and inside `allowedModelEndpoints`, and no other
  name that changes how the fetch reaches or trusts its source (FETCH: CA bundles, other
  `AWS_*` and `S3_*` settings). Credentials and region stay the spec's.
- A `file://` model under such a policy comes from the image: no volume of the spec's own is
  mounted at, above or inside the allowed path that holds it.
- Under any of the three rules, `envFrom` must not be able to set a name the spec could not
  (its Secret's or ConfigMap's keys are never seen here: without a prefix it could set any), and
  no volume is mounted over the directories an image runs from or reads its configuration from
  (`SYSTEM_PATHS`: a Python `.pth` file in site-packages, or `/etc/ld.so.preload`, runs code as
  surely as `PYTHONPATH` or `LD_PRELOAD` would; `/etc/hosts` and `/etc/ssl` send a fetch
  elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from modeldeploy.api.envnames import EnvClass, classify, prefix_reaches
from modeldeploy.api.policy import PolicyRules
from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.policy.images import ImageError, parse_image, parse_image_entry
from modeldeploy.policy.uris import (
    ENDPOINT_SCHEMES,
    Location,
    LocationError,
    on_one_line,
    parse_entry,
    parse_location,
    parse_mount_path,
)

MODEL_URIS = "allowedModelUris"
MODEL_ENDPOINTS = "allowedModelEndpoints"
IMAGES = "allowedImages"
SYSTEM_PATHS = (
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
    "/proc", "/root", "/sbin", "/sys", "/usr",
)  # fmt: skip
_SYSTEM_SEGMENTS = tuple(parse_mount_path(path) for path in SYSTEM_PATHS)
T = TypeVar("T")


@dataclass(frozen=True)
class Breach:
    rule: str
    field: str
    value: str
    problem: str


def _endpoint_entry(text: str) -> Location:
    return parse_entry(text, ENDPOINT_SCHEMES)


_PARSERS: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    (MODEL_URIS, "allowed_model_uris", parse_entry),
    (MODEL_ENDPOINTS, "allowed_model_endpoints", _endpoint_entry),
    (IMAGES, "allowed_images", parse_image_entry),
)


def entry_problems(rules: PolicyRules) -> list[str]:
    """An entry of the three lists that names nothing a spec could be compared with."""
    problems = []
    for rule, attribute, parse in _PARSERS:
        for index, entry in enumerate(getattr(rules, attribute) or []):
            try:
                parse(entry)
            except ValueError as error:
                problems.append(f"spec.rules.{rule}[{index}]: {entry} is no allowed entry: {error}")
    return problems


def _parsed(entries: Iterable[str], parse: Callable[[str], T]) -> list[T]:
    """The entries that parse; policy_problems reports the others, which admit nothing."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(parse(entry))
        except ValueError:
            continue
    return parsed


def _mounts(model_spec: ModelDeploymentSpec) -> Iterator[tuple[str, str, tuple[str, ...] | str]]:
    """Each volume mount's field, path, and the path's segments, or why it has none."""
    for index, mount in enumerate(model_spec.serving.volume_mounts or []):
        field = f"spec.serving.volumeMounts[{index}].mountPath"
        try:
            yield field, mount.mount_path, parse_mount_path(mount.mount_path)
        except LocationError as error:
            yield field, mount.mount_path, str(error)


def _listed(entries: list[str]) -> str:
    return ", ".join(entries) if entries else "none"


def _model_uri(model_spec: ModelDeploymentSpec, allowed: list[str]) -> list[Breach]:
    uri = model_spec.model.uri
    try:
        location = parse_location(uri)
    except LocationError as error:
        return [Breach(MODEL_URIS, "spec.model.uri", uri, f"{error}; a policy admits no such URI")]
    admitting = [entry for entry in _parsed(allowed, parse_entry) if entry.admits(location)]
    if not admitting:
        return [
            Breach(MODEL_URIS, "spec.model.uri", uri,
                   f"inside none of the allowed locations: {_listed(allowed)} (compared by "
                   "scheme, bucket or host and port, and whole path segments)")
        ]  # fmt: skip
    if location.scheme != "file":
        return []
    return [
        Breach(MODEL_URIS, field, path,
               f"a volume of the spec's own at, above or inside the allowed path that holds {uri} "
               "would put its files where the policy allows a model; a file:// model comes from "
               "the image")
        for field, path, mounted in _mounts(model_spec)
        # A path that does not parse is refused by _system_mounts.
        if isinstance(mounted, tuple)
        and any(on_one_line(mounted, entry.segments) for entry in admitting)
    ]  # fmt: skip


def _image(model_spec: ModelDeploymentSpec, allowed: list[str]) -> list[Breach]:
    image = model_spec.serving.image
    try:
        reference = parse_image(image)
    except ImageError as error:
        return [Breach(IMAGES, "spec.serving.image", image, f"no image reference: {error}")]
    if any(entry.admits(reference) for entry in _parsed(allowed, parse_image_entry)):
        return []
    return [
        Breach(IMAGES, "spec.serving.image", image,
               f"in none of the allowed: {_listed(allowed)} (compared by registry, whole "
               "repository path components, tag and digest)")
    ]  # fmt: skip


def _env(model_spec: ModelDeploymentSpec, rule: str, endpoints: list[str] | None) -> list[Breach]:
    """The spec's own variables that send the model fetch where the policy does not allow."""
    allowed = _parsed(endpoints or [], _endpoint_entry)
    found = []
    for index, var in enumerate(model_spec.serving.env):
        env_class, why = classify(var.name)
        field = f"spec.serving.env[{index}] ({var.name})"
        if env_class is EnvClass.FETCH:
            found.append(
                Breach(rule, field, "set",
                       f"{why}, which under a policy that restricts model sources is the "
                       "image's to decide")
            )  # fmt: skip
        if env_class is not EnvClass.ENDPOINT:
            continue
        if var.value_from is not None:
            found.append(
                Breach(rule, field, "read from a Secret or ConfigMap",
                       f"{why}; under a policy that restricts model sources it must be written "
                       f"as a value inside {MODEL_ENDPOINTS}: {_listed(endpoints or [])}")
            )  # fmt: skip
            continue
        try:
            location = parse_location(var.value, ENDPOINT_SCHEMES)
        except LocationError as error:
            found.append(Breach(rule, field, var.value, f"{why}; {error}"))
            continue
        if not any(entry.admits(location) for entry in allowed):
            found.append(
                Breach(rule, field, var.value,
                       f"{why}; inside none of the allowed endpoints ({MODEL_ENDPOINTS}): "
                       f"{_listed(endpoints or [])}")
            )  # fmt: skip
    return found


def _env_from(model_spec: ModelDeploymentSpec, guarded: dict[EnvClass, str]) -> list[Breach]:
    """`envFrom` sources whose keys could set a name the guarded classes keep from the spec."""
    found = []
    for index, source in enumerate(model_spec.serving.env_from or []):
        reached = prefix_reaches(source.prefix or "")
        hits = [env_class for env_class in guarded if env_class in reached]
        if not hits:
            continue
        ref = source.secret_ref or source.config_map_ref
        kind = "Secret" if source.secret_ref is not None else "ConfigMap"
        name = ref.name if ref is not None else ""
        found.append(
            Breach(guarded[hits[0]], f"spec.serving.envFrom[{index}]",
                   f"prefix {source.prefix}" if source.prefix else "without a prefix",
                   f"{kind} {name} could set {reached[hits[0]]} among other names the operator "
                   "never sees; give it a prefix that begins no reserved name (as APP_), or "
                   "name each variable in spec.serving.env")
        )  # fmt: skip
    return found


def _system_mounts(model_spec: ModelDeploymentSpec, rule: str) -> list[Breach]:
    found = []
    for field, path, mounted in _mounts(model_spec):
        if isinstance(mounted, str):
            found.append(Breach(rule, field, path, mounted))
        elif any(on_one_line(mounted, system) for system in _SYSTEM_SEGMENTS):
            found.append(
                Breach(rule, field, path,
                       "a volume there would replace files an image runs or reads its "
                       f"configuration from ({', '.join(SYSTEM_PATHS)}); mount it elsewhere, "
                       "as under /mnt or /data")
            )  # fmt: skip
    return found


def breaches(model_spec: ModelDeploymentSpec, rules: PolicyRules) -> list[Breach]:
    """Every way `model_spec` reaches past the policy's allowedModelUris,
    allowedModelEndpoints and allowedImages."""
    found = []
    if rules.allowed_model_uris is not None:
        found += _model_uri(model_spec, rules.allowed_model_uris)
    if rules.allowed_images is not None:
        found += _image(model_spec, rules.allowed_images)
    source_rule = (
        MODEL_ENDPOINTS if rules.allowed_model_endpoints is not None
        else MODEL_URIS if rules.allowed_model_uris is not None
        else None
    )  # fmt: skip
    code_rule = IMAGES if rules.allowed_images is not None else None
    guard = code_rule or source_rule
    if guard is None:
        return found
    # In the order an envFrom source is said to reach them: what runs code first.
    guarded = {EnvClass.CODE: guard}
    if source_rule is not None:
        found += _env(model_spec, source_rule, rules.allowed_model_endpoints)
        guarded |= {EnvClass.ENDPOINT: source_rule, EnvClass.FETCH: source_rule}
    guarded[EnvClass.OPERATOR] = guard
    found += _env_from(model_spec, guarded)
    found += _system_mounts(model_spec, guard)
    return found
