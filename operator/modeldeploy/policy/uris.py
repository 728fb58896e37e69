"""Model URIs, S3 endpoints and container paths, parsed into their parts and compared by them,
never by string prefix.

A location is a scheme, an authority (the S3 bucket; the HTTP host and port, with the scheme's
default port written out; nothing for a local file) and a path of whole segments. An allowed
entry admits a URI of the same scheme and authority whose segments begin with the entry's:
`s3://models-prod/team-a` admits `s3://models-prod/team-a/x`, not `s3://models-prod/team-ab/x`
nor `s3://models-prod-evil/team-a/x`.

The path is read as the serving image reads it (modeldeploy_serving/artifacts.py): an S3 key is
the path decoded once, without its leading slashes; a file path is decoded, and decoded again by
`url2pathname`. So that no reading of a path can leave the directory it names, a URI is refused
when its path holds a `.` or `..` segment (also as `..;x`, which some servers read as `..`), a
percent-encoded separator (`%2F`, `%5C`), a percent sign still encoding something after one
decoding, a backslash, or a control character; and userinfo (`user@host`) is refused wherever
it stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

MODEL_SCHEMES = ("file", "http", "https", "s3")
ENDPOINT_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

_BUCKET = re.compile(r"[A-Za-z0-9._-]+")
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\]")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class LocationError(ValueError):
    """The text is no location a policy can judge; the message says why."""


@dataclass(frozen=True)
class Location:
    scheme: str
    authority: str
    """The bucket (s3), host:port (http, https), or "" (file)."""
    segments: tuple[str, ...]
    query: bool = False
    """Whether a query or fragment follows the path (http and https only)."""

    def admits(self, other: Location) -> bool:
        """`other` is this location or lies inside it by whole segments."""
        return (
            other.scheme == self.scheme
            and other.authority == self.authority
            and other.segments[: len(self.segments)] == self.segments
        )


def split_path(path: str, collapse: bool) -> tuple[str, ...]:
    """The segments of a decoded path; `collapse`: empty segments go, as a POSIX file system
    reads `//` as `/`. Refuses `.` and `..` segments."""
    segments = path.split("/")
    for segment in segments:
        if segment.split(";", 1)[0] in (".", ".."):
            raise LocationError(
                f"its path has a {segment!r} segment, which could lead out of the directory "
                "it names"
            )
    return tuple(s for s in segments if s) if collapse else tuple(segments)


def _decoded(path: str) -> str:
    if _ENCODED_SEPARATOR.search(path):
        raise LocationError("its path encodes a separator (%2F or %5C)")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise LocationError("its path decodes to no UTF-8 text") from None
    if _ENCODED.search(decoded):
        raise LocationError("its path is percent-encoded twice")
    if "\\" in decoded or _CONTROL.search(decoded.replace(" ", "")):
        raise LocationError("its path has a backslash or a control character")
    return decoded


def _authority(scheme: str, authority: str) -> str:
    if "@" in authority:
        raise LocationError("it has userinfo (user@host), which is never allowed")
    if scheme == "file":
        if authority not in ("", "localhost"):
            raise LocationError("a file:// URI names no host")
        return ""
    if scheme == "s3":
        if not _BUCKET.fullmatch(authority):
            raise LocationError("an s3:// URI needs a bucket name (letters, digits, . _ -)")
        return authority
    host, port = authority.lower(), DEFAULT_PORTS[scheme]
    colon = host.rfind(":")
    if colon > host.rfind("]"):
        host, written = host[:colon], host[colon + 1 :]
        if not (written.isascii() and written.isdigit() and 0 < int(written) < 65536):
            raise LocationError(f"its port {written!r} is no port number")
        port = int(written)
    if not host.startswith("["):
        host = host.removesuffix(".")  # the same host in DNS
    if not _HOST.fullmatch(host):
        raise LocationError(f"{host!r} is no host name or address")
    return f"{host}:{port}"


def parse_location(text: str, schemes: tuple[str, ...] = MODEL_SCHEMES) -> Location:
    """A URI (a model's, or an S3 endpoint's) in its parts, as the serving image reads it."""
    if _CONTROL.search(text):
        raise LocationError("it has whitespace or a control character")
    scheme, separator, rest = text.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in schemes:
        raise LocationError("its scheme must be one of " + ", ".join(f"{s}://" for s in schemes))
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    if scheme in ("http", "https") and not text.isascii():
        raise LocationError(f"a {scheme}:// URI must percent-encode what is not ASCII")
    authority = _authority(scheme, rest[:end])
    remainder = rest[end:]
    cut = min((i for i in map(remainder.find, "?#") if i >= 0), default=len(remainder))
    path, query = remainder[:cut], cut < len(remainder)
    if query and scheme not in ("http", "https"):
        raise LocationError(f"a {scheme}:// URI takes no query or fragment")
    decoded = _decoded(path)
    if scheme == "file":
        if not decoded.startswith("/"):
            raise LocationError("a file:// URI needs an absolute path")
        return Location(scheme, authority, split_path(decoded, collapse=True))
    if scheme == "s3":
        # The serving image asks for the key without its leading slashes.
        return Location(scheme, authority, split_path(decoded.lstrip("/"), collapse=False))
    return Location(scheme, authority, split_path(decoded[1:], collapse=False), query)


def parse_entry(text: str, schemes: tuple[str, ...] = MODEL_SCHEMES) -> Location:
    """An allowed entry: a location without query or fragment; a trailing slash changes
    nothing (`s3://models-prod/team-a/` and `s3://models-prod/team-a` admit the same)."""
    entry = parse_location(text, schemes)
    if entry.query:
        raise LocationError("an allowed entry takes no query or fragment")
    segments = entry.segments
    while segments and segments[-1] == "":
        segments = segments[:-1]
    return Location(entry.scheme, entry.authority, segments)


def parse_mount_path(path: str) -> tuple[str, ...]:
    """A container path in segments (empty ones collapsed); refuses relative paths and `.` or
    `..` segments."""
    if not path.startswith("/"):
        raise LocationError("it is no absolute path")
    if "\\" in path or _CONTROL.search(path.replace(" ", "")):
        raise LocationError("it has a backslash or a control character")
    return split_path(path, collapse=True)


def on_one_line(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """One path is the other, or lies inside it: a volume mounted at either covers the other's
    files, or some of them."""
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]
