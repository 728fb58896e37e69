"""The checks every write passes on the real server whatever the type: names, label keys
and values, annotation keys. A manifest that the real server would refuse with 422 Invalid is
refused here too, so a bad generated name fails in a unit test rather than on a cluster."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .resources import ResourceType

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def name_problem(rtype: ResourceType, name: str) -> str | None:
    if rtype.label_names:
        if len(name) > 63 or not _LABEL.match(name):
            return (
                f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower '
                "case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character"
            )
        return None
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        return (
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
            "case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character"
        )
    return None


def _key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return f'Invalid value: "{key}": prefix part must be a DNS subdomain'
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character"
        )
    return None


def metadata_problems(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    labels = metadata.get("labels") or {}
    if not isinstance(labels, Mapping):
        return [("metadata.labels", "Invalid value: must be a map of strings")]
    for key, value in labels.items():
        if problem := _key_problem(str(key)):
            problems.append(("metadata.labels", problem))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            problems.append(
                (
                    "metadata.labels",
                    f'Invalid value: "{value}": a valid label must be an empty string or '
                    "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                    "end with an alphanumeric character",
                )
            )
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return [("metadata.annotations", "Invalid value: must be a map of strings")]
    for key, value in annotations.items():
        if problem := _key_problem(str(key)):
            problems.append(("metadata.annotations", problem))
        if not isinstance(value, str):
            problems.append(("metadata.annotations", f"Invalid value: {value!r}: not a string"))
    finalizers = metadata.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        problems.append(("metadata.finalizers", "Invalid value: must be a list of strings"))
    return problems


# Time fields of built-in types, by storage, with whether each is a MicroTime. The real
# server parses them into Go times and writes them back in one format, so a client reads
# "2024-01-01T00:00:00.000000Z" whatever offset notation it wrote, and a time without an
# offset is refused.
TIME_FIELDS: dict[tuple[str, str], dict[tuple[str, ...], bool]] = {
    ("coordination.k8s.io", "leases"): {("spec", "acquireTime"): True, ("spec", "renewTime"): True},
    ("", "events"): {("eventTime",): True, ("firstTimestamp",): False, ("lastTimestamp",): False},
    ("events.k8s.io", "events"): {
        ("eventTime",): True,
        ("deprecatedFirstTimestamp",): False,
        ("deprecatedLastTimestamp",): False,
    },
}


def normalise_times(rtype: ResourceType, obj: dict[str, Any]) -> list[tuple[str, str]]:
    """Rewrites the type's time fields in the server's format (in place); returns problems."""
    problems = []
    for path, micro in TIME_FIELDS.get(rtype.storage, {}).items():
        parent: Any = obj
        for step in path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or parent.get(path[-1]) is None:
            continue
        value = parent[path[-1]]
        try:
            parsed = datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError("no time zone offset")
        except ValueError:
            problems.append((".".join(path), f'Invalid value: "{value}": not an RFC 3339 time'))
            continue
        utc = parsed.astimezone(UTC)
        parent[path[-1]] = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")
    return problems
