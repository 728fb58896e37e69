"""A small PromQL lexer for tests: strings (decoded as Prometheus decodes them), comments, code.

Written from the PromQL grammar rather than from the template code, so that the template's
escaping is checked against an independent reading of the language.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_HEX_ESCAPE_LENGTH = {"x": 2, "u": 4, "U": 8}


class LexError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str  # "code" | "string" | "comment"
    text: str
    """For a string, its decoded value; otherwise the source text."""


def read_string(source: str, start: int) -> tuple[str, int]:
    """The decoded string literal opening at `start`, and the index just after it."""
    quote = source[start]
    if quote == "`":
        end = source.find("`", start + 1)
        if end < 0:
            raise LexError("unterminated raw string")
        return source[start + 1 : end], end + 1
    out: list[str] = []
    i = start + 1
    while True:
        if i >= len(source):
            raise LexError("unterminated string")
        char = source[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\n":
            raise LexError("newline in string")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(source):
            raise LexError("unterminated escape")
        code = source[i + 1]
        if code in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[code])
            i += 2
        elif code == quote:
            out.append(quote)
            i += 2
        elif code in _HEX_ESCAPE_LENGTH:
            digits = source[i + 2 : i + 2 + _HEX_ESCAPE_LENGTH[code]]
            if len(digits) != _HEX_ESCAPE_LENGTH[code] or any(
                d not in string.hexdigits for d in digits
            ):
                raise LexError("bad hex escape")
            out.append(chr(int(digits, 16)))
            i += 2 + len(digits)
        elif code in "01234567":
            digits = source[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise LexError("bad octal escape")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise LexError(f"unknown escape \\{code}")


def tokens(source: str) -> list[Token]:
    """Strings, comments and the code between them; adjacent code characters are merged."""
    result: list[Token] = []
    code: list[str] = []

    def flush() -> None:
        if code:
            result.append(Token("code", "".join(code)))
            code.clear()

    i = 0
    while i < len(source):
        char = source[i]
        if char in "\"'`":
            flush()
            value, i = read_string(source, i)
            result.append(Token("string", value))
        elif char == "#":
            flush()
            end = len(source)
            for stop in ("\n", "\r"):
                found = source.find(stop, i)
                if found >= 0:
                    end = min(end, found)
            result.append(Token("comment", source[i:end]))
            i = end
        else:
            code.append(char)
            i += 1
    flush()
    return result
