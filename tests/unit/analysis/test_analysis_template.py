"""Rendering PromQL templates: variables, contexts and escaping that keeps the query's shape."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from promql_lexer import Token, read_string, tokens

from modeldeploy.analysis.template import (
    VARIABLES,
    MissingValue,
    TemplateError,
    UnknownVariable,
    escape_double_quoted,
    escape_single_quoted,
    render,
    variables_used,
)

VALUES = {
    "namespace": "ns",
    "name": "fraud",
    "model": "fraud-model",
    "version": "v2",
    "revision": "abc123",
    "canary_revision": "abc123",
    "stable_revision": "def456",
    "interval": "1m",
}

# Any text Prometheus could hold in a label value: no surrogates, which are not Unicode.
label_values = st.text(st.characters(exclude_categories=["Cs"]), min_size=1)
string_variables = st.sampled_from(sorted(set(VARIABLES) - {"interval"}))


def with_value(variable: str, value: str) -> dict[str, str | None]:
    return {**VALUES, variable: value}


def test_every_variable_renders() -> None:
    template = " ".join(f'"{{{{{name}}}}}"' for name in VARIABLES)
    rendered = render(template, VALUES)
    assert rendered == " ".join(f'"{VALUES[name]}"' for name in VARIABLES)


@pytest.mark.parametrize(
    "placeholder", ["{{revision}}", "{{ revision }}", "{{revision }}", "{{\trevision\n}}"]
)
def test_whitespace_inside_braces_is_allowed(placeholder: str) -> None:
    assert render(f'up{{revision="{placeholder}"}}', VALUES) == 'up{revision="abc123"}'


def test_interval_goes_into_a_range() -> None:
    assert render("rate(x[{{interval}}])", VALUES) == "rate(x[1m])"


@pytest.mark.parametrize("template", ["{{foo}}", '"{{ foo }}"', "x[{{foo}}]"])
def test_unknown_variable_is_named(template: str) -> None:
    with pytest.raises(UnknownVariable) as raised:
        render(template, VALUES)
    assert raised.value.variable == "foo"
    assert "'foo'" in str(raised.value)
    assert "revision" in str(raised.value)  # lists what is known


def test_go_template_syntax_is_an_unknown_variable() -> None:
    with pytest.raises(UnknownVariable, match=r"'\.Revision'"):
        render('up{revision="{{ .Revision }}"}', VALUES)


def test_unclosed_placeholder() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        render('up{revision="{{revision"}', VALUES)


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_value(missing: str | None) -> None:
    with pytest.raises(MissingValue) as raised:
        render('up{revision="{{stable_revision}}"}', {**VALUES, "stable_revision": missing})
    assert raised.value.variable == "stable_revision"
    assert "stable_revision" in str(raised.value)


def test_variable_absent_from_values_is_missing() -> None:
    with pytest.raises(MissingValue):
        render('"{{model}}"', {"revision": "r"})


def test_unused_missing_values_do_not_matter() -> None:
    assert render('"{{revision}}"', {"revision": "r", "stable_revision": None}) == '"r"'


@pytest.mark.parametrize("variable", sorted(set(VARIABLES) - {"interval"}))
def test_bare_string_variable_is_refused(variable: str) -> None:
    with pytest.raises(TemplateError, match=variable) as raised:
        render(f"up{{revision={{{{{variable}}}}}}}", VALUES)
    assert "quoted" in str(raised.value)


@pytest.mark.parametrize(
    "interval", ["1.5m", "30s1m", "5m] or vector(1) #", "", "0s", "1M", " 1m", "1m)"]
)
def test_interval_must_be_a_prometheus_duration(interval: str) -> None:
    with pytest.raises(TemplateError):
        render("rate(x[{{interval}}])", with_value("interval", interval))


def test_interval_is_validated_inside_strings_too() -> None:
    with pytest.raises(TemplateError, match="duration"):
        render('"{{interval}}"', with_value("interval", "1.5m"))


def test_injection_stays_inside_the_label_value() -> None:
    rendered = render('up{revision="{{revision}}"}', with_value("revision", 'x"} or vector(1) #'))
    assert rendered == 'up{revision="x\\"} or vector(1) #"}'
    assert tokens(rendered) == [
        Token("code", "up{revision="),
        Token("string", 'x"} or vector(1) #'),
        Token("code", "}"),
    ]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x00\x1f\x7f", "\\x00\\x1f\\x7f"),
        ("it's", "it's"),
        ("é✓", "é✓"),
    ],
)
def test_escape_double_quoted(value: str, escaped: str) -> None:
    assert escape_double_quoted(value) == escaped


def test_escape_single_quoted_escapes_only_its_own_quote() -> None:
    assert escape_single_quoted('it\'s "q"\n') == 'it\\\'s "q"\\n'


def test_escaped_quote_in_template_keeps_the_string_open() -> None:
    rendered = render('up{a="\\"{{revision}}"}', with_value("revision", 'x"y'))
    assert tokens(rendered)[1] == Token("string", '"x"y')


def test_hash_inside_a_string_is_not_a_comment() -> None:
    rendered = render('up{a="#{{revision}}"}', with_value("revision", "x\ny"))
    assert tokens(rendered)[1] == Token("string", "#x\ny")


def test_quote_inside_a_comment_is_not_a_string() -> None:
    rendered = render("up # it's {{revision}}\n+ 1", with_value("revision", 'a"b'))
    assert rendered == "up # it's a\"b\n+ 1"


def test_line_break_cannot_leave_a_comment() -> None:
    with pytest.raises(TemplateError, match="line break"):
        render("up # {{revision}}", with_value("revision", "x\nor vector(1)"))


def test_backtick_cannot_leave_a_raw_string() -> None:
    with pytest.raises(TemplateError, match="backtick"):
        render("up{a=`{{revision}}`}", with_value("revision", "x`} or vector(1) #"))


def test_surrogates_are_refused() -> None:
    with pytest.raises(TemplateError, match="Unicode"):
        render('"{{revision}}"', with_value("revision", "\ud800"))


def test_variables_used() -> None:
    template = 'x{a="{{namespace}}",b="{{ revision }}"}[{{interval}}] # {{ revision}}'
    assert variables_used(template) == {"namespace", "revision", "interval"}
    assert variables_used("vector(1)") == frozenset()


def test_variables_used_rejects_unknown() -> None:
    with pytest.raises(UnknownVariable):
        variables_used("{{nope}}")


@given(value=label_values, variable=string_variables)
def test_double_quoted_value_round_trips(value: str, variable: str) -> None:
    rendered = render(f'up{{label="{{{{{variable}}}}}"}}', with_value(variable, value))
    prefix = "up{label="
    assert rendered.startswith(prefix)
    decoded, end = read_string(rendered, len(prefix))
    assert decoded == value
    assert rendered[end:] == "}"


@given(value=label_values, variable=string_variables)
def test_single_quoted_value_round_trips(value: str, variable: str) -> None:
    rendered = render(f"up{{label='{{{{{variable}}}}}'}}", with_value(variable, value))
    decoded, end = read_string(rendered, len("up{label="))
    assert decoded == value
    assert rendered[end:] == "}"


@given(value=label_values)
def test_raw_string_holds_any_value_without_a_backtick(value: str) -> None:
    template = "up{label=`{{revision}}`}"
    if "`" in value:
        with pytest.raises(TemplateError):
            render(template, with_value("revision", value))
    else:
        assert tokens(render(template, with_value("revision", value)))[1].text == value


# Every context a placeholder can sit in, several times over.
STRUCTURE_TEMPLATE = (
    'sum by (code) (rate(x{namespace="{{namespace}}",revision=~"{{revision}}.*",'
    "model='{{model}}',name!=`{{name}}`}[{{interval}}])) "
    '/ on() group_left count(y{v="a{{version}}b{{canary_revision}}"}) # {{stable_revision}}\n'
    "> 0"
)


@given(
    values=st.fixed_dictionaries({name: label_values for name in VARIABLES if name != "interval"})
)
def test_no_value_changes_the_query_structure(values: dict[str, str]) -> None:
    assume("`" not in values["name"])
    assume("\n" not in values["stable_revision"] and "\r" not in values["stable_revision"])
    plain = {name: name.upper() for name in values}
    rendered = render(STRUCTURE_TEMPLATE, {**values, "interval": "5m"})
    reference = render(STRUCTURE_TEMPLATE, {**plain, "interval": "5m"})
    got, expected = tokens(rendered), tokens(reference)
    assert [t.kind for t in got] == [t.kind for t in expected]
    assert [t.text for t in got if t.kind == "code"] == [
        t.text for t in expected if t.kind == "code"
    ]
    strings = [t.text for t in got if t.kind == "string"]
    assert strings == [
        values["namespace"],
        values["revision"] + ".*",
        values["model"],
        values["name"],
        "a" + values["version"] + "b" + values["canary_revision"],
    ]
