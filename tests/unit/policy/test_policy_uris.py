"""Model URIs, endpoints and container paths compared by their parts, never by string prefix."""

import posixpath
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modeldeploy.policy.uris import (
    ENDPOINT_SCHEMES,
    LocationError,
    on_one_line,
    parse_entry,
    parse_location,
    parse_mount_path,
)


def admitted(entry: str, uri: str, schemes: tuple[str, ...] | None = None) -> bool:
    """Whether `entry` admits `uri`; a URI that does not parse is admitted by nothing."""
    kwargs = {"schemes": schemes} if schemes else {}
    try:
        location = parse_location(uri, **kwargs)
    except LocationError:
        return False
    return parse_entry(entry, **kwargs).admits(location)


@pytest.mark.parametrize(
    ("entry", "uri"),
    [
        ("s3://models-prod/", "s3://models-prod/fraud/v3/model.joblib"),
        ("s3://models-prod", "s3://models-prod/fraud.joblib"),
        ("s3://models-prod/team-a", "s3://models-prod/team-a/x"),
        ("s3://models-prod/team-a/", "s3://models-prod/team-a/x/y.onnx"),
        ("s3://models-prod/team-a/model.joblib", "s3://models-prod/team-a/model.joblib"),
        # The serving image asks S3 for the key without its leading slashes.
        ("s3://models-prod/team-a", "s3://models-prod//team-a/x"),
        ("s3://models-prod/team-a", "s3://models-prod/team-a/with%20space.joblib"),
        ("file:///models/", "file:///models/fraud.joblib"),
        ("file:///models", "file://localhost/models/fraud.joblib"),
        ("file:///models/team-a", "file:///models//team-a///x.onnx"),
        ("https://Models.Example.com/zoo/", "https://models.example.com/zoo/m.onnx"),
        ("https://models.example.com/zoo", "https://models.example.com:443/zoo/m.onnx"),
        ("http://models.example.com/zoo", "http://models.example.com:80/zoo/m.onnx"),
        ("https://models.example.com./zoo", "https://models.example.com/zoo/m.onnx?v=3"),
        ("https://[::1]:8443/", "https://[::1]:8443/m.onnx"),
    ],
)
def test_a_uri_inside_an_allowed_entry_is_admitted(entry: str, uri: str) -> None:
    assert admitted(entry, uri)


@pytest.mark.parametrize(
    ("entry", "uri"),
    [
        ("s3://models-prod", "s3://models-prod-evil/x"),
        ("s3://models-prod/", "s3://models-prod-evil/x"),
        ("s3://models-prod/team-a", "s3://models-prod/team-ab/x"),
        ("s3://models-prod/team-a", "s3://models-prod/team-a-evil"),
        ("s3://models-prod/team-a/", "s3://models-prod/team-b/x"),
        ("s3://models-prod/team-a/", "s3://models-prod/"),
        ("s3://models-prod/team-a/", "s3://models-prod/team-a"[:-1] + "A/x"),
        ("s3://models-prod/", "s3://Models-Prod/x"),
        ("s3://models-prod/", "https://models-prod/x"),
        ("https://models.example.com/", "https://models.example.com.evil.io/x"),
        ("https://models.example.com/", "https://models.example.com@evil.io/x"),
        ("https://models.example.com/", "https://user@models.example.com/x"),
        ("https://models.example.com/", "https://models.example.com:8443/x"),
        ("https://models.example.com/", "http://models.example.com/x"),
        ("https://models.example.com/zoo", "https://models.example.com/zoo-evil/x"),
        ("https://models.example.com/zoo", "https://models.example.com//zoo/x"),
        ("file:///models/", "file:///models-evil/x"),
        ("file:///models/", "file:///etc/passwd"),
        ("file:///models/", "file://evil.io/models/x"),
    ],
)
def test_a_uri_outside_every_entry_is_refused(entry: str, uri: str) -> None:
    assert not admitted(entry, uri)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://models-prod/team-a/../team-b/x", "'..' segment"),
        ("s3://models-prod/team-a/./x", "'.' segment"),
        ("s3://models-prod/team-a/%2e%2e/team-b/x", "'..' segment"),
        ("https://models.example.com/zoo/..;/admin/x", "'..;' segment"),
        ("s3://models-prod/team-a%2F..%2Fteam-b/x", "encodes a separator"),
        ("file:///models/a%5c..%5cetc", "encodes a separator"),
        # file:// paths are decoded twice by the serving image (unquote, then url2pathname).
        ("file:///models/%252e%252e/etc/passwd", "percent-encoded twice"),
        ("file:///models/a\\..\\x", "backslash"),
        ("file:///models/a%00.joblib", "control character"),
        ("s3://models-prod/a b", "whitespace"),
        ("s3://models-prod/x?versionId=1", "no query or fragment"),
        ("s3://user@models-prod/x", "userinfo"),
        ("s3://models:9000/x", "bucket name"),
        ("https://models.example.com:99999/x", "no port number"),
        ("https://models.example.com:/x", "no port number"),
        ("https://mödels.example.com/x", "percent-encode"),
        ("https://models.example.com/%ff", "no UTF-8"),
        ("file://host/models/x", "names no host"),
        ("ftp://models/x", "scheme must be one of"),
    ],
)
def test_a_uri_that_could_be_read_more_than_one_way_is_refused(uri: str, why: str) -> None:
    with pytest.raises(LocationError, match=why.replace("?", r"\?")):
        parse_location(uri)


@pytest.mark.parametrize(
    "entry",
    ["s3://", "s3://models-prod/x?y", "https://a@b/", "file:///models/../x", "models-prod/"],
)
def test_an_entry_that_names_no_place_does_not_parse(entry: str) -> None:
    with pytest.raises(LocationError):
        parse_entry(entry)


def test_endpoints_are_http_locations() -> None:
    store = "http://s3.model-store.svc.cluster.local:9000"
    assert admitted(store, store, ENDPOINT_SCHEMES)
    assert admitted(store + "/", "HTTP://S3.model-store.svc.cluster.local:9000/", ENDPOINT_SCHEMES)
    assert not admitted(store, "http://s3.model-store.svc.cluster.local:9001", ENDPOINT_SCHEMES)
    assert not admitted(store, "https://s3.model-store.svc.cluster.local:9000", ENDPOINT_SCHEMES)
    with pytest.raises(LocationError, match="scheme"):
        parse_location("s3://bucket/x", ENDPOINT_SCHEMES)


def test_mount_paths_and_lines() -> None:
    assert parse_mount_path("/etc//tuning/") == ("etc", "tuning")
    assert on_one_line(("models",), ("models", "team-a"))
    assert on_one_line(("models", "team-a"), ("models",))
    assert on_one_line((), ("models",))
    assert not on_one_line(("models", "team-b"), ("models", "team-a"))
    assert not on_one_line(("models-x",), ("models",))
    for bad in ("relative", "/data/../usr/lib", "/data/./x"):
        with pytest.raises(LocationError):
            parse_mount_path(bad)


# What a suffix may hold: separators, dots, percent signs and the hex digits that make them
# encode something, and characters some servers read as separators.
SUFFIX = st.text(alphabet="/.%25eEfFcC\\;:@?#a-_ \x00é", max_size=16)
ENTRIES = st.sampled_from(
    [
        "s3://models-prod/team-a",
        "s3://models-prod",
        "file:///models/team-a",
        "https://models.example.com/zoo",
        "https://models.example.com",
    ]
)


@given(ENTRIES, SUFFIX)
@example("s3://models-prod", "-evil/x")
@example("https://models.example.com", ".evil.io/x")
@example("https://models.example.com", "@evil.io/x")
@example("s3://models-prod/team-a", "b/x")
def test_an_entry_and_a_suffix_that_is_no_whole_segment_admit_nothing(
    entry: str, suffix: str
) -> None:
    # A suffix that neither starts a new segment nor adds nothing but a query continues the
    # entry's last part (its bucket, host or last segment): it names another place.
    if suffix == "" or suffix[0] in "/?#":
        return
    same_host = (suffix + "/")[:2] in ("./", ".?", ".#")
    if entry.count("/") == 2 and entry.startswith("http") and same_host:
        return  # the same host, written with DNS's root dot
    assert not admitted(entry, entry + suffix)


def served_path(uri: str) -> str:
    """The path the serving image reads, with `.` and `..` resolved as a file system or a
    server that normalises paths would (modeldeploy_serving/artifacts.py)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = url2pathname(unquote(parts.path))
    elif parts.scheme == "s3":
        path = "/" + unquote(parts.path.lstrip("/"))
    else:
        path = unquote(parts.path)
    path = path.replace("\\", "/")
    return posixpath.normpath(path) if path else "/"


@given(ENTRIES, SUFFIX)
@example("file:///models/team-a", "/%252e%252e/x")
@example("s3://models-prod/team-a", "/..%2fteam-b")
def test_no_admitted_path_leads_outside_its_entry(entry: str, suffix: str) -> None:
    uri = entry + "/" + suffix
    if not admitted(entry, uri):
        return
    inside = served_path(entry)
    reached = served_path(uri)
    assert reached == inside or reached.startswith(inside.rstrip("/") + "/"), (uri, reached)
    assert urlsplit(uri).hostname == urlsplit(entry).hostname
