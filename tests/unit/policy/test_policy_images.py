"""Images compared by registry, whole repository path components, tag and digest."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modeldeploy.policy.images import (
    EntryKind,
    ImageError,
    ImageRef,
    parse_image,
    parse_image_entry,
)

DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64


def admitted(entry: str, image: str) -> bool:
    try:
        reference = parse_image(image)
    except ImageError:
        return False
    return parse_image_entry(entry).admits(reference)


@pytest.mark.parametrize(
    ("image", "parsed"),
    [
        ("modeldeploy/serving:0.1.0",
         ImageRef("docker.io", ("modeldeploy", "serving"), "0.1.0", None)),
        ("ubuntu", ImageRef("docker.io", ("library", "ubuntu"), "latest", None)),
        ("index.docker.io/library/ubuntu:22.04",
         ImageRef("docker.io", ("library", "ubuntu"), "22.04", None)),
        ("Registry.Example.com:5000/ml/server@" + DIGEST,
         ImageRef("registry.example.com:5000", ("ml", "server"), None, DIGEST)),
        ("localhost/ml/server:1@" + DIGEST, ImageRef("localhost", ("ml", "server"), "1", DIGEST)),
    ],
)  # fmt: skip
def test_an_image_is_read_as_the_runtime_reads_it(image: str, parsed: ImageRef) -> None:
    assert parse_image(image) == parsed


@pytest.mark.parametrize(
    "image",
    ["", "registry.example.com/ML/server", "r.io/ml//server", "r.io/ml/server:", "r.io/a@sha256:x",
     "r.io/ml/../server", "r.io/ml/server tag", "r.io/-ml/server"],
)  # fmt: skip
def test_what_is_no_image_reference_does_not_parse(image: str) -> None:
    with pytest.raises(ImageError):
        parse_image(image)


@pytest.mark.parametrize(
    ("entry", "image"),
    [
        ("registry.example.com/ml/", "registry.example.com/ml/server:1"),
        ("registry.example.com/ml/", "REGISTRY.example.com/ml/team/server@" + DIGEST),
        ("registry.example.com/", "registry.example.com/anything/at/all:2"),
        ("registry.example.com", "registry.example.com/x"),
        ("localhost:5000/", "localhost:5000/x"),
        ("modeldeploy/", "modeldeploy/serving:0.1.0"),
        ("docker.io/modeldeploy/", "modeldeploy/serving:0.1.0"),
        ("modeldeploy/", "index.docker.io/modeldeploy/serving"),
        ("registry.example.com/ml/server", "registry.example.com/ml/server:7"),
        ("registry.example.com/ml/server", "registry.example.com/ml/server@" + DIGEST),
        ("registry.example.com/ml/server:1", "registry.example.com/ml/server:1"),
        ("registry.example.com/ml/server@" + DIGEST, "registry.example.com/ml/server:1@" + DIGEST),
        ("ubuntu:latest", "ubuntu"),
        ("ubuntu", "docker.io/library/ubuntu:22.04"),
    ],
)
def test_an_image_an_entry_names_is_admitted(entry: str, image: str) -> None:
    assert admitted(entry, image)


@pytest.mark.parametrize(
    ("entry", "image"),
    [
        ("registry.example.com/ml/", "registry.example.com/ml-evil/x"),
        ("registry.example.com/ml/", "registry.example.com.evil.io/ml/x"),
        ("registry.example.com/ml/", "registry.example.com:443/ml/x"),
        ("registry.example.com/ml/", "registry.example.com/ml"),
        ("registry.example.com/ml/", "other.example.com/registry.example.com/ml/x"),
        ("registry.example.com/", "registry.example.com.evil.io/x"),
        ("registry.example.com", "registry.example.com.evil.io/x"),
        ("modeldeploy/", "evil.io/modeldeploy/serving"),
        ("modeldeploy/", "modeldeploy-evil/serving"),
        ("registry.example.com/ml/server", "registry.example.com/ml/server-evil:1"),
        ("registry.example.com/ml/server", "registry.example.com/ml/server/x:1"),
        ("registry.example.com/ml/server:1", "registry.example.com/ml/server:2"),
        # A digest names the image the runtime pulls, whatever the tag says.
        ("registry.example.com/ml/server:1", "registry.example.com/ml/server:1@" + DIGEST),
        ("registry.example.com/ml/server@" + DIGEST,
         "registry.example.com/ml/server@" + OTHER_DIGEST),
        ("ubuntu", "evil/ubuntu"),
    ],
)  # fmt: skip
def test_an_image_no_entry_names_is_refused(entry: str, image: str) -> None:
    assert not admitted(entry, image)


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("registry.example.com", EntryKind.REGISTRY),
        ("myregistry:5000/", EntryKind.REGISTRY),
        ("ml/", EntryKind.NAMESPACE),
        ("r.io/ml/server", EntryKind.REPOSITORY),
        # Without a slash, a name with a port-like tag is an image, as the runtime reads it.
        ("myregistry:5000", EntryKind.REFERENCE),
        ("python:3.11", EntryKind.REFERENCE),
    ],
)
def test_each_kind_of_entry(entry: str, kind: EntryKind) -> None:
    assert parse_image_entry(entry).kind is kind


@pytest.mark.parametrize("entry", ["r.io/ML/", "r.io//", "/ml/", "r.io/ml/server:", "bad host/"])
def test_an_entry_that_names_no_image_does_not_parse(entry: str) -> None:
    with pytest.raises(ImageError):
        parse_image_entry(entry)


COMPONENT = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
SUFFIX = st.text(alphabet="abc-._:/@9", min_size=1, max_size=12)


@given(st.sampled_from(["registry.example.com/ml/", "registry.example.com/ml/server"]), SUFFIX)
@example("registry.example.com/ml/", "-evil/x")
@example("registry.example.com/ml/", ".evil.io/x")
def test_a_suffix_that_continues_a_name_never_reaches_another_repository(
    entry: str, suffix: str
) -> None:
    # Written after the entry's last path component (without its slash), a suffix that does not
    # start a new component, a tag or a digest continues that component into another name.
    base = entry.removesuffix("/")
    if suffix[0] in "/:@":
        return
    assert not admitted(entry, base + suffix)


@given(st.lists(COMPONENT, min_size=1, max_size=3), st.lists(COMPONENT, min_size=1, max_size=3))
def test_a_namespace_admits_exactly_the_repositories_under_it(
    namespace: list[str], path: list[str]
) -> None:
    entry = "registry.example.com/" + "/".join(namespace) + "/"
    image = "registry.example.com/" + "/".join(path) + ":1"
    under = len(path) > len(namespace) and path[: len(namespace)] == namespace
    assert admitted(entry, image) is under
