"""What makes a check impossible to run is known from its spec alone."""

import pytest
from pydantic import ValidationError

from modeldeploy.analysis.validate import check_problem
from modeldeploy.api.spec import BUILTIN_CHECK_NAMES, CheckSpec


def check(**fields: object) -> CheckSpec:
    return CheckSpec.model_validate(fields)


@pytest.mark.parametrize("name", BUILTIN_CHECK_NAMES)
def test_every_builtin_is_valid_promql(name: str) -> None:
    assert check_problem(check(name=name, max=1)) is None


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("sum(rate(x[5m])", "unclosed left parenthesis"),
        ("rate(x[{{interval}}]) >", "not valid PromQL"),
        ("no_such_function(x)", "unknown function"),
        ('x{a="{{revison}}"}', "unknown template variable 'revison'"),
        ("x{a={{revision}}}", 'inside a quoted label value, e.g. revision="{{revision}}"'),
        ('x{a="{{revision}"}', "unclosed {{"),
    ],
)
def test_a_query_that_could_never_run_is_named(query: str, problem: str) -> None:
    found = check_problem(check(name="custom", query=query, max=1))
    assert found is not None and problem in found


def test_max_increase_needs_the_revision_selected() -> None:
    found = check_problem(check(name="custom", query="sum(up)", maxIncrease=0.1))
    assert found is not None and 'revision="{{revision}}"' in found
    selected = check(name="custom", query='sum(up{revision="{{revision}}"})', maxIncrease=0.1)
    assert check_problem(selected) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "accuracy", "min": 0.9}, "must name a built-in"),
        ({"name": "error-rate", "min": 0.5, "max": 0.1}, "no value could pass"),
        ({"name": "prediction-drift", "maxIncrease": 0.1}, "bound it with max"),
    ],
)
def test_the_schema_refuses_what_cel_can_see(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check(**fields)
