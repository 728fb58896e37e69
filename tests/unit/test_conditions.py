from modeldeploy.api.conditions import ConditionUpdate, find_condition, merge_conditions
from modeldeploy.api.status import Condition


def test_transition_time_moves_only_on_status_change() -> None:
    first = merge_conditions([], [ConditionUpdate("Ready", "False", "Starting")], "t1", 1)
    same = merge_conditions(first, [ConditionUpdate("Ready", "False", "StillStarting")], "t2", 2)
    flipped = merge_conditions(same, [ConditionUpdate("Ready", "True", "Up")], "t3", 2)
    assert find_condition(same, "Ready") == Condition(
        type="Ready",
        status="False",
        reason="StillStarting",
        message="",
        last_transition_time="t1",
        observed_generation=2,
    )
    ready = find_condition(flipped, "Ready")
    assert ready is not None and ready.last_transition_time == "t3"


def test_order_is_ready_progressing_degraded() -> None:
    merged = merge_conditions(
        [],
        [
            ConditionUpdate("Degraded", "False", "A"),
            ConditionUpdate("Custom", "True", "B"),
            ConditionUpdate("Ready", "True", "C"),
            ConditionUpdate("Progressing", "False", "D"),
        ],
        "t",
        None,
    )
    assert [c.type for c in merged] == ["Ready", "Progressing", "Degraded", "Custom"]
