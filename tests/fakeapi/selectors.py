"""Label and field selectors, with the grammar and matching rules of the real server.

`!=` and `notin` match objects that lack the label, as they do in Kubernetes. Field selectors
take the paths the resource type supports and nothing else, so a client relying on a field
the real server would refuse gets the same 400 here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SET = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=<>(),]*)$")
_ORDER = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>[<>])\s*(?P<value>-?\d+)$")
_EXISTS = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)$")

ALWAYS_SELECTABLE = ("metadata.name", "metadata.namespace")


class SelectorError(ValueError):
    """A selector the server cannot parse; answered with 400 BadRequest."""


def _split(text: str) -> list[str]:
    """Splits on the commas that separate requirements, not those inside `in (a,b)`."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def _check_key(key: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value) or len(value) > 63:
        raise SelectorError(f"unable to parse requirement: invalid label value {value!r}")
    return value


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        limit = int(self.values[0])
        return number > limit if self.op == ">" else number < limit


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        found = []
        for part in _split(text or ""):
            if match := _SET.match(part):
                values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
                if not values:
                    raise SelectorError(f"unable to parse requirement: {part!r} lists no values")
                found.append(
                    Requirement(
                        _check_key(match["key"]),
                        match["op"],
                        tuple(_check_value(v) for v in values),
                    )
                )
            elif match := _EQUALITY.match(part):
                op = "!=" if match["op"] == "!=" else "="
                found.append(
                    Requirement(_check_key(match["key"]), op, (_check_value(match["value"]),))
                )
            elif match := _ORDER.match(part):
                found.append(Requirement(_check_key(match["key"]), match["op"], (match["value"],)))
            elif match := _EXISTS.match(part):
                op = "!" if match["neg"] else "exists"
                found.append(Requirement(_check_key(match["key"]), op))
            else:
                raise SelectorError(f"unable to parse requirement: {part!r}")
        return cls(tuple(found))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(req.matches(labels) for req in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (path, equal, value)

    @classmethod
    def parse(cls, text: str | None, supported: Collection[str] = ()) -> FieldSelector:
        terms = []
        for part in _split(text or ""):
            match = re.match(r"^(?P<path>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$", part)
            if not match:
                raise SelectorError(f"invalid selector: {part!r}; can't understand it")
            path = match["path"]
            if path not in ALWAYS_SELECTABLE and path not in supported:
                raise SelectorError(f'field label not supported: "{path}"')
            terms.append((path, match["op"] != "!=", match["value"].strip()))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)
