from e2e.localcluster.node_agent.expansion import expand

VARS = {"POD_IP": "127.10.0.3", "PORT": "8080", "EMPTY": ""}


def test_defined_variables_are_replaced() -> None:
    assert expand("--bind $(POD_IP):$(PORT)", VARS) == "--bind 127.10.0.3:8080"


def test_undefined_and_unclosed_references_stay_as_written() -> None:
    assert expand("$(NOPE) and $(POD_IP", VARS) == "$(NOPE) and $(POD_IP"


def test_double_dollar_escapes() -> None:
    assert expand("$$(POD_IP) costs $$5", VARS) == "$(POD_IP) costs $5"


def test_lone_dollar_and_empty_values() -> None:
    assert expand("$x $ $(EMPTY)|", VARS) == "$x $ |"
    assert expand("end$", VARS) == "end$"
