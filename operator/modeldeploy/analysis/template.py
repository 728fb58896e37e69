"""PromQL templates: `{{variable}}` placeholders filled in without letting a value change the query.

Variables (whitespace inside the braces is allowed, `{{ revision }}`):

- `namespace`: namespace of the ModelDeployment; Prometheus adds it to every serving series.
- `name`: name of the ModelDeployment.
- `model`: the model's serving name (`spec.model.name`).
- `version`: model version of the revision being measured.
- `revision`: the revision being measured: the canary's, or the stable one's when a check
  with `maxIncrease` is run a second time for comparison.
- `canary_revision`, `stable_revision`: the two revisions, whichever is being measured.
- `interval`: the analysis window, a Prometheus duration such as `1m` or `1m30s`.

Where a placeholder sits decides how its value is written. Inside a quoted string (a label
value, `revision="{{revision}}"`) the value is escaped for that quote style, so a value such as
`x"} or vector(1) #` stays one string. Outside strings only `interval` may appear (in a range,
`[{{interval}}]`), and only as a valid duration; any other bare variable is an error, because
an unquoted value would be parsed as PromQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum

from modeldeploy.analysis.duration import is_prometheus_duration

VARIABLES: Mapping[str, str] = {
    "namespace": "namespace of the ModelDeployment",
    "name": "name of the ModelDeployment",
    "model": "the model's serving name",
    "version": "model version of the revision being measured",
    "revision": "the revision being measured (canary, or stable for a comparison)",
    "canary_revision": "the canary revision",
    "stable_revision": "the stable revision",
    "interval": "the analysis window, a Prometheus duration such as 1m",
}

_PLACEHOLDER_OPEN = "{{"
_PLACEHOLDER_CLOSE = "}}"
_BARE_ALLOWED = frozenset({"interval"})


class TemplateError(ValueError):
    """The template cannot be rendered: a fault of the query or its variables."""


class UnknownVariable(TemplateError):
    def __init__(self, variable: str) -> None:
        known = ", ".join(VARIABLES)
        super().__init__(f"unknown template variable {variable!r}; known variables: {known}")
        self.variable = variable


class MissingValue(TemplateError):
    """A known variable has no value here, e.g. `stable_revision` before anything is stable."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"template variable {variable!r} has no value")
        self.variable = variable


class _Context(Enum):
    CODE = "code"
    DOUBLE_QUOTED = '"'
    SINGLE_QUOTED = "'"
    RAW = "`"
    COMMENT = "#"


def _escape_control(char: str) -> str | None:
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
    if char in named:
        return named[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02x}"
    return None


def _escape_quoted(value: str, quote: str) -> str:
    out = []
    for char in value:
        escaped = _escape_control(char)
        if escaped is not None:
            out.append(escaped)
        elif char == quote:
            out.append("\\" + quote)
        else:
            out.append(char)
    return "".join(out)


def escape_double_quoted(value: str) -> str:
    """`value` written so that `"` + result + `"` is a PromQL string equal to `value`."""
    return _escape_quoted(value, '"')


def escape_single_quoted(value: str) -> str:
    """`value` written so that `'` + result + `'` is a PromQL string equal to `value`."""
    return _escape_quoted(value, "'")


def _write_raw(variable: str, value: str) -> str:
    # A backtick string has no escapes, so the only safe course is to refuse the one
    # character that would end it.
    if "`" in value:
        raise TemplateError(f"value of {variable!r} contains a backtick; use a quoted string")
    return value


def _write_comment(variable: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise TemplateError(f"value of {variable!r} contains a line break inside a comment")
    return value


def _write_bare(variable: str, value: str) -> str:
    if variable not in _BARE_ALLOWED:
        raise TemplateError(
            f"{{{{{variable}}}}} must be inside a quoted label value, "
            f'e.g. {variable}="{{{{{variable}}}}}"'
        )
    return value


_WRITERS: dict[_Context, Callable[[str, str], str]] = {
    _Context.CODE: _write_bare,
    _Context.DOUBLE_QUOTED: lambda _variable, value: escape_double_quoted(value),
    _Context.SINGLE_QUOTED: lambda _variable, value: escape_single_quoted(value),
    _Context.RAW: _write_raw,
    _Context.COMMENT: _write_comment,
}

_VALIDATORS: dict[str, Callable[[str], bool]] = {"interval": is_prometheus_duration}
_VALIDATION_HINTS = {"interval": "a Prometheus duration such as 30s or 1m30s"}


def _placeholder_at(template: str, start: int) -> tuple[str, int]:
    """The variable named by the placeholder opening at `start`, and the index after it."""
    close = template.find(_PLACEHOLDER_CLOSE, start + len(_PLACEHOLDER_OPEN))
    if close < 0:
        raise TemplateError(f"unclosed {_PLACEHOLDER_OPEN} at offset {start}")
    variable = template[start + len(_PLACEHOLDER_OPEN) : close].strip()
    if variable not in VARIABLES:
        raise UnknownVariable(variable)
    return variable, close + len(_PLACEHOLDER_CLOSE)


def _next_context(context: _Context, char: str) -> _Context:
    if context is _Context.CODE:
        return {
            '"': _Context.DOUBLE_QUOTED,
            "'": _Context.SINGLE_QUOTED,
            "`": _Context.RAW,
            "#": _Context.COMMENT,
        }.get(char, _Context.CODE)
    if context is _Context.COMMENT:
        return _Context.CODE if char in "\r\n" else context
    return _Context.CODE if char == context.value else context


def _scan(template: str, on_placeholder: Callable[[str, _Context], str]) -> str:
    """Walk `template` like PromQL's lexer, replacing each placeholder via `on_placeholder`.

    Only the template's own characters move the lexer between code, strings and comments;
    substituted text is never scanned, so it cannot open or close anything.
    """
    out: list[str] = []
    context = _Context.CODE
    i = 0
    while i < len(template):
        if template.startswith(_PLACEHOLDER_OPEN, i):
            variable, i = _placeholder_at(template, i)
            out.append(on_placeholder(variable, context))
            continue
        char = template[i]
        if char == "\\" and context in (_Context.DOUBLE_QUOTED, _Context.SINGLE_QUOTED):
            # An escape pair never ends the string, whatever the second character is.
            out.append(template[i : i + 2])
            i += 2
            continue
        out.append(char)
        context = _next_context(context, char)
        i += 1
    return "".join(out)


def variables_used(template: str) -> frozenset[str]:
    """Names of the variables `template` refers to; raises TemplateError if any is unknown."""
    used: set[str] = set()

    def note(variable: str, _context: _Context) -> str:
        used.add(variable)
        return ""

    _scan(template, note)
    return frozenset(used)


def render(template: str, values: Mapping[str, str | None]) -> str:
    """`template` with every placeholder replaced by its value from `values`.

    A variable absent from `values`, None or empty raises MissingValue: an empty label value
    in a selector matches series without that label, which is never what a check means.
    """

    def substitute(variable: str, context: _Context) -> str:
        value = values.get(variable)
        if not value:
            raise MissingValue(variable)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TemplateError(f"value of {variable!r} is not valid Unicode") from None
        validate = _VALIDATORS.get(variable)
        if validate is not None and not validate(value):
            hint = _VALIDATION_HINTS[variable]
            raise TemplateError(f"{variable} {value!r} is not {hint}")
        return _WRITERS[context](variable, value)

    return _scan(template, substitute)
