from modeldeploy.cli import command_annotations, format_status
from modeldeploy.commands import read_commands


def test_one_shot_command_is_pending_until_handled() -> None:
    annotations = {"modeldeploy.io/abort": "abort@1", "modeldeploy.io/paused": "true"}
    commands = read_commands(annotations, {})
    assert commands.abort and commands.paused
    assert commands.tokens == {"abort": "abort@1"}
    handled = read_commands(annotations, {"handledCommands": {"abort": "abort@1"}})
    assert not handled.abort and handled.tokens == {}
    again = read_commands(
        {"modeldeploy.io/abort": "abort@2"}, {"handledCommands": {"abort": "abort@1"}}
    )
    assert again.abort


def test_promote_modes() -> None:
    assert read_commands({"modeldeploy.io/promote": "full@1"}, {}).promote == "full"
    assert read_commands({"modeldeploy.io/promote": "step@1"}, {}).promote == "step"
    assert read_commands({}, {}).promote is None


def test_plugin_writes_the_annotations_the_operator_reads() -> None:
    for verb in ("abort", "retry", "undo"):
        patch = command_annotations(verb)
        commands = read_commands({k: v for k, v in patch.items() if v}, {})
        assert getattr(commands, verb) is True
    full = command_annotations("promote", full=True)
    assert read_commands({k: v for k, v in full.items() if v}, {}).promote == "full"
    assert command_annotations("pause") == {"modeldeploy.io/paused": "true"}
    assert command_annotations("resume") == {"modeldeploy.io/paused": None}


def test_status_text_names_step_checks_and_rollback() -> None:
    body = {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "status": {
            "phase": "Canary",
            "message": "step 2/3",
            "stable": {"version": "v1", "revision": "r1", "readyReplicas": 3, "replicas": 3},
            "canary": {"version": "v2", "revision": "r2", "readyReplicas": 1, "replicas": 1},
            "rollout": {"step": 1, "failures": 0, "inconclusive": 1},
            "weight": 25,
            "effectiveWeight": 25,
            "checks": [{"name": "error-rate", "verdict": "Pass", "message": "0.000 <= max 0.01"}],
            "history": [{"at": "t", "outcome": "Deployed", "version": "v1", "revision": "r1"}],
        },
    }
    text = format_status(body)
    assert "Step:       2, weight 25%" in text
    assert "error-rate" in text and "Pass" in text
    assert "Deployed" in text
