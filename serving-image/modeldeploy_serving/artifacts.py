"""Fetching a model artifact to local disk and verifying its digest."""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from . import __version__

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_ATTEMPTS = 3
_TIMEOUT_SECONDS = 30.0


class ArtifactError(Exception):
    """The artifact cannot be had or is not the one the configuration pinned."""


class ArtifactUnavailableError(ArtifactError):
    """The artifact could not be reached (network trouble, a 5xx answer); later may work."""


def fetch_artifact(
    uri: str,
    cache_dir: Path,
    expected_sha256: str | None = None,
    s3_endpoint_url: str | None = None,
) -> Path:
    """Returns a local path holding the artifact at ``uri``, verified against the digest."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = Path(url2pathname(unquote(parts.path)))
        if not path.is_file():
            raise ArtifactError(f"model file {path} does not exist")
        _verify(path, expected_sha256)
        return path

    destination = _cache_path(uri, cache_dir, expected_sha256)
    if expected_sha256 and destination.is_file():
        try:
            _verify(destination, expected_sha256)
        except ArtifactError:
            log.warning("cached artifact is corrupt; downloading again", extra={"uri": uri})
        else:
            log.info("using cached artifact", extra={"uri": uri, "path": str(destination)})
            return destination

    if parts.scheme in ("http", "https"):

        def opener() -> Iterator[bytes]:
            return _http_chunks(uri)
    elif parts.scheme == "s3":

        def opener() -> Iterator[bytes]:
            return _s3_chunks(parts.netloc, unquote(parts.path.lstrip("/")), s3_endpoint_url)
    else:
        raise ArtifactError(f"unsupported model URI scheme {parts.scheme!r}")

    _with_retries(lambda: _download(opener, destination, expected_sha256), uri)
    return destination


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactError(f"sha256 mismatch for {path.name}: expected {expected}, got {actual}")


def _cache_path(uri: str, cache_dir: Path, expected_sha256: str | None) -> Path:
    # A pinned digest identifies the content, so the same artifact behind another URI is reused.
    key = expected_sha256 or hashlib.sha256(uri.encode()).hexdigest()
    name = Path(unquote(urlsplit(uri).path)).name or "model"
    return cache_dir / key[:32] / name


def _download(
    opener: Callable[[], Iterator[bytes]], destination: Path, expected: str | None
) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle: IO[bytes]
    # Written beside the destination and renamed into place, so a crash never leaves a
    # half-written file under the final name.
    with tempfile.NamedTemporaryFile(
        dir=destination.parent, prefix=".partial-", delete=False
    ) as handle:
        partial = Path(handle.name)
        try:
            for chunk in opener():
                digest.update(chunk)
                handle.write(chunk)
        except BaseException:
            handle.close()
            partial.unlink(missing_ok=True)
            raise
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        partial.unlink(missing_ok=True)
        raise ArtifactError(
            f"sha256 mismatch for {destination.name}: expected {expected}, got {actual}"
        )
    os.replace(partial, destination)


def _with_retries(action: Callable[[], None], uri: str) -> None:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            action()
            return
        except ArtifactUnavailableError as exc:
            if attempt == _ATTEMPTS:
                raise ArtifactUnavailableError(f"{exc} ({attempt} attempts)") from exc
            pause = 0.5 * 2 ** (attempt - 1)
            log.warning(
                "artifact download failed; retrying",
                extra={"uri": uri, "error": str(exc), "attempt": attempt, "retry_in_s": pause},
            )
            time.sleep(pause)


def _http_chunks(uri: str) -> Iterator[bytes]:
    request = urllib.request.Request(
        uri, headers={"User-Agent": f"modeldeploy-serving/{__version__}"}
    )
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        message = f"GET {uri} answered {exc.code} {exc.reason}"
        if exc.code >= 500 or exc.code == 429:
            raise ArtifactUnavailableError(message) from None
        raise ArtifactError(message) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            # An untrusted certificate stays untrusted; retrying would only hide the problem.
            raise ArtifactError(f"GET {uri} failed: {reason}") from None
        raise ArtifactUnavailableError(f"GET {uri} failed: {reason}") from None
    with response:
        try:
            while chunk := response.read(_CHUNK):
                yield chunk
        except (TimeoutError, ConnectionError) as exc:
            raise ArtifactUnavailableError(f"GET {uri} broke off: {exc}") from None


# S3 error codes that mean "slow down" or "try again" even when the status is not a 5xx.
_S3_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestLimitExceeded",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)


def _s3_chunks(bucket: str, key: str, endpoint_url: str | None) -> Iterator[bytes]:
    # Imported here: botocore costs start-up time and memory that other schemes never need.
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    where = f"s3://{bucket}/{key}"
    try:
        body = _s3_client(endpoint_url).get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        # Without an error document (HEAD, some proxies) botocore uses the status as the code.
        code = "" if error.get("Code") == str(status) else error.get("Code", "")
        if exc.operation_name == "GetObject":
            message = " ".join(
                filter(None, [f"GET {where} answered {status}", code, error.get("Message")])
            )
        else:
            # Credential providers (STS for web identity) fail through the same exception.
            message = f"GET {where} failed: {exc}"
        if status >= 500 or status == 429 or code in _S3_TRANSIENT_CODES:
            raise ArtifactUnavailableError(message) from None
        raise ArtifactError(message) from None
    except (BotoConnectionError, HTTPClientError) as exc:
        # Connection failures and timeouts may pass; an untrusted certificate stays untrusted.
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise ArtifactError(f"GET {where} failed: {exc}") from None
        raise ArtifactUnavailableError(f"GET {where} failed: {exc}") from None
    except BotoCoreError as exc:
        raise ArtifactError(f"GET {where} failed: {exc}") from None
    with body:
        try:
            yield from body.iter_chunks(_CHUNK)
        except (BotoCoreError, TimeoutError, ConnectionError) as exc:
            raise ArtifactUnavailableError(f"GET {where} broke off: {exc}") from None


def _s3_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    # AWS_REGION is what EKS and most SDKs set; botocore itself reads only AWS_DEFAULT_REGION.
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    config = Config(
        connect_timeout=_TIMEOUT_SECONDS,
        read_timeout=_TIMEOUT_SECONDS,
        # One attempt per call, so that _with_retries and the loader's backoff alone decide
        # what is tried again and how often.
        retries={"total_max_attempts": 1},
        # S3-compatible servers (MinIO, Ceph, moto, ...) commonly serve buckets only path-style.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        user_agent_extra=f"modeldeploy-serving/{__version__}",
    )
    if session.get_credentials() is None:
        # Public buckets accept anonymous requests; botocore refuses to send them otherwise.
        config = config.merge(Config(signature_version=UNSIGNED))
    return session.client(
        "s3",
        region_name=session.region_name or "us-east-1",
        endpoint_url=endpoint_url,
        config=config,
        # botocore trusts certifi's bundle, not SSL_CERT_FILE as https:// artifacts do.
        verify=os.environ.get("AWS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None,
    )
