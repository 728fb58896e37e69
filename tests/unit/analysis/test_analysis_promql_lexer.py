"""The test lexer itself, so that template tests rest on a checked reading of PromQL strings."""

import pytest
from promql_lexer import LexError, Token, read_string, tokens


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        ('"a\\"b"', 'a"b'),
        ('"a\\\\b"', "a\\b"),
        ('"\\n\\t\\r"', "\n\t\r"),
        ('"\\x41\\u00e9\\U0001F600"', "Aé\U0001f600"),
        ('"\\101"', "A"),
        ("'it\\'s'", "it's"),
        ("`raw \\n`", "raw \\n"),
    ],
)
def test_read_string_decodes(literal: str, value: str) -> None:
    assert read_string(literal, 0) == (value, len(literal))


@pytest.mark.parametrize("literal", ['"open', '"new\nline"', '"\\q"', "'\\\"'", '"\\x4"', "`open"])
def test_read_string_rejects(literal: str) -> None:
    with pytest.raises(LexError):
        read_string(literal, 0)


def test_tokens_split_code_strings_and_comments() -> None:
    assert tokens('up{a="x#y"} # note "q"\n+ 1') == [
        Token("code", "up{a="),
        Token("string", "x#y"),
        Token("code", "} "),
        Token("comment", '# note "q"'),
        Token("code", "\n+ 1"),
    ]
