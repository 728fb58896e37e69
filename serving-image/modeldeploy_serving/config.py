"""Server configuration, read once from the environment the operator sets."""

from __future__ import annotations

import itertools
import json
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from .schema import TensorSpec, parse_specs

MODEL_FORMATS = ("sklearn", "onnx")
URI_SCHEMES = ("file", "http", "https", "s3")

DEFAULT_PREDICTION_BUCKETS: tuple[float, ...] = (
    -1000.0, -100.0, -10.0, -5.0, -2.0, -1.0, -0.5, 0.0,
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    2.0, 3.0, 4.0, 5.0, 10.0, 100.0, 1000.0,
)  # fmt: skip

# A Service balances per connection (kube-proxy picks a pod when a connection opens), so a
# keep-alive client stays on one pod for as long as its connection lives. Ending each
# connection after this many responses sends every client through the balancer again now and
# then; a new TCP connection per 100 requests costs next to nothing.
DEFAULT_MAX_REQUESTS_PER_CONNECTION = 100

# Names end up as URL path segments and metric label values.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")

T = TypeVar("T")


class ConfigError(Exception):
    """The environment does not describe a servable model; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class Settings:
    model_name: str
    model_version: str
    model_uri: str
    model_format: str
    model_sha256: str | None
    model_revision: str
    input_schema: tuple[TensorSpec, ...] | None
    output_schema: tuple[TensorSpec, ...] | None
    host: str
    port: int
    max_batch_rows: int
    max_body_bytes: int
    response_delay_ms: float
    prediction_buckets: tuple[float, ...]
    cache_dir: Path
    drain_seconds: float
    shutdown_timeout_seconds: float
    workers: int
    onnx_threads: int
    s3_endpoint_url: str | None
    access_log: bool
    log_level: str
    max_requests_per_connection: int
    """Responses on one keep-alive connection before the server closes it; 0 for no limit."""
    shadow_target_suffixes: tuple[str, ...] = (".svc", ".svc.cluster.local")
    """Host name endings a shadow copy may go to: the cluster's Services."""
    admin_port: int = 0
    """The port of the operator's endpoints (/admin/shadow), which no Service exposes; 0 for
    none. The client port never answers them."""
    admin_token_sha256: str | None = None
    """SHA-256 of the token the admin port requires: the pod holds only the digest,
    so whoever may read its spec still cannot steer it. None refuses every admin request."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        errors: list[str] = []

        def get(name: str, parse: Callable[[str], T], default: T) -> T:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return parse(raw)
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                return default

        def required(name: str, check: Callable[[str], str]) -> str:
            raw = env.get(name, "").strip()
            if not raw:
                errors.append(f"{name} is required")
                return ""
            try:
                return check(raw)
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
                return raw

        settings = cls(
            model_name=required("MODEL_NAME", _model_name),
            model_version=required("MODEL_VERSION", _model_name),
            model_uri=required("MODEL_URI", _model_uri),
            model_format=required("MODEL_FORMAT", _model_format),
            model_sha256=get("MODEL_SHA256", _sha256, None),
            model_revision=env.get("MODEL_REVISION", "").strip(),
            input_schema=get("MODEL_INPUT_SCHEMA", _schema("MODEL_INPUT_SCHEMA"), None),
            output_schema=get("MODEL_OUTPUT_SCHEMA", _schema("MODEL_OUTPUT_SCHEMA"), None),
            host=env.get("SERVING_HOST", "").strip() or "0.0.0.0",
            port=get("SERVING_PORT", _int_between(1, 65535), 8080),
            max_batch_rows=get("SERVING_MAX_BATCH_ROWS", _int_between(1, 10_000_000), 1024),
            max_body_bytes=get("SERVING_MAX_BODY_BYTES", _int_between(1, 2**31), 8 * 1024 * 1024),
            response_delay_ms=get("SERVING_RESPONSE_DELAY_MS", _float_between(0, 600_000), 0.0),
            prediction_buckets=get(
                "SERVING_PREDICTION_BUCKETS", _buckets, DEFAULT_PREDICTION_BUCKETS
            ),
            cache_dir=get(
                "MODEL_CACHE_DIR", Path, Path(tempfile.gettempdir()) / "modeldeploy-models"
            ),
            drain_seconds=get("SERVING_DRAIN_SECONDS", _float_between(0, 3600), 2.0),
            shutdown_timeout_seconds=get(
                "SERVING_SHUTDOWN_TIMEOUT_SECONDS", _float_between(0, 3600), 25.0
            ),
            workers=get("SERVING_WORKERS", _int_between(1, 1024), 1),
            onnx_threads=get("SERVING_ONNX_THREADS", _int_between(1, 1024), 1),
            s3_endpoint_url=(
                env.get("S3_ENDPOINT_URL", "").strip()
                or env.get("AWS_ENDPOINT_URL_S3", "").strip()
                or env.get("AWS_ENDPOINT_URL", "").strip()
                or None
            ),
            access_log=get("SERVING_ACCESS_LOG", _bool, True),
            log_level=get("LOG_LEVEL", _log_level, "INFO"),
            max_requests_per_connection=get(
                "SERVING_MAX_REQUESTS_PER_CONNECTION",
                _int_between(0, 1_000_000_000),
                DEFAULT_MAX_REQUESTS_PER_CONNECTION,
            ),
            admin_port=get("SERVING_ADMIN_PORT", _int_between(0, 65535), 0),
            admin_token_sha256=get("SERVING_ADMIN_TOKEN_SHA256", _sha256, None),
            shadow_target_suffixes=tuple(
                part.strip()
                for part in (
                    env.get("SERVING_SHADOW_TARGET_SUFFIXES") or ".svc,.svc.cluster.local"
                ).split(",")
                if part.strip()
            ),
        )
        if settings.admin_port and settings.admin_port == settings.port:
            errors.append("SERVING_ADMIN_PORT: must differ from SERVING_PORT, which clients reach")
        if errors:
            raise ConfigError("invalid configuration: " + "; ".join(errors))
        return settings


def _model_name(raw: str) -> str:
    if not _NAME_RE.match(raw):
        raise ValueError(
            f"{raw!r} must start with a letter or digit and contain only letters, digits, "
            "'.', '_' and '-'"
        )
    return raw


def _model_uri(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in URI_SCHEMES:
        raise ValueError(f"scheme of {raw!r} must be one of {', '.join(URI_SCHEMES)}")
    if parts.scheme == "file" and not parts.path:
        raise ValueError(f"{raw!r} has no path")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ValueError(f"{raw!r} names a remote host; file:// URIs must be local")
    if parts.scheme != "file" and not parts.netloc:
        raise ValueError(f"{raw!r} has no host or bucket")
    if parts.scheme == "s3" and parts.path.strip("/") == "":
        raise ValueError(f"{raw!r} has no object key")
    return raw


def _model_format(raw: str) -> str:
    fmt = raw.lower()
    if fmt not in MODEL_FORMATS:
        raise ValueError(f"must be one of {', '.join(MODEL_FORMATS)}, got {raw!r}")
    return fmt


def _sha256(raw: str) -> str:
    if not _SHA256_RE.match(raw):
        raise ValueError("must be 64 hexadecimal characters")
    return raw.lower()


def _schema(name: str) -> Callable[[str], tuple[TensorSpec, ...]]:
    def parse(raw: str) -> tuple[TensorSpec, ...]:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        return parse_specs(value, name)

    return parse


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def _float_between(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {raw}")
        return value

    return parse


def _buckets(raw: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"must be a comma-separated list of numbers, got {raw!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError("must list at least one finite bucket bound")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError("bucket bounds must be strictly increasing")
    return values


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level
