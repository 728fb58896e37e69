import json
import socket
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from modeldeploy.api.commands import read_commands
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.tools.cli import command_annotations, format_status, status_document
from modeldeploy.tools.failures import describe

EMPTY = ModelDeploymentStatus()


def test_one_shot_command_is_pending_until_handled() -> None:
    annotations = {"modeldeploy.io/abort": "abort@1", "modeldeploy.io/paused": "true"}
    commands = read_commands(annotations, EMPTY)
    assert commands.abort and commands.paused
    assert commands.tokens == {"abort": "abort@1"}
    handled = read_commands(
        annotations, ModelDeploymentStatus(handled_commands={"abort": "abort@1"})
    )
    assert not handled.abort and handled.tokens == {}
    again = read_commands(
        {"modeldeploy.io/abort": "abort@2"},
        ModelDeploymentStatus(handled_commands={"abort": "abort@1"}),
    )
    assert again.abort


def test_promote_modes() -> None:
    assert read_commands({"modeldeploy.io/promote": "full@1"}, EMPTY).promote == "full"
    assert read_commands({"modeldeploy.io/promote": "step@1"}, EMPTY).promote == "step"
    assert read_commands({}, EMPTY).promote is None


def test_plugin_writes_the_annotations_the_operator_reads() -> None:
    for verb in ("abort", "retry", "undo"):
        patch = command_annotations(verb)
        commands = read_commands({k: v for k, v in patch.items() if v}, EMPTY)
        assert getattr(commands, verb) is True
    full = command_annotations("promote", full=True)
    assert read_commands({k: v for k, v in full.items() if v}, EMPTY).promote == "full"
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


MODEL = {"name": "fraud", "version": "v2", "uri": "s3://m/fraud", "format": "sklearn"}


def test_status_prints_the_policy_and_the_rollout_it_makes() -> None:
    body = {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {"model": MODEL, "rollout": {"interval": "2m"}},
        "status": {"policy": {"name": "production", "generation": 4}},
    }
    policy = {
        "metadata": {"name": "production", "generation": 4},
        "spec": {
            "defaults": {
                "rollout": {"stepWeights": [5, 25], "checks": [{"name": "error-rate", "max": 0.01}]}
            }
        },
    }
    text = format_status(body, policy)
    assert "Policy:     production (generation 4)" in text
    assert (
        "Rollout:    steps 5, 25 every 2m via replicas; schema changes refused; "
        "checks: error-rate max 0.01"
    ) in text


def test_status_of_a_rollout_in_flight_shows_the_policy_it_started_under() -> None:
    body = {
        "metadata": {"name": "fraud", "namespace": "ml"},
        "spec": {"model": MODEL},
        "status": {
            "policy": {"name": "production", "generation": 1},
            "rollout": {
                "revision": "r2",
                "step": 0,
                "policy": {"name": "production", "generation": 1,
                           "defaults": {"rollout": {"stepWeights": [10]}}},
            },
        },
    }  # fmt: skip
    newer = {"metadata": {"name": "production", "generation": 2},
             "spec": {"defaults": {"rollout": {"stepWeights": [1]}}}}  # fmt: skip
    assert "steps 10 every 30s" in format_status(body, newer)


def test_status_without_a_rollout_says_what_happens_instead() -> None:
    body = {"metadata": {"name": "fraud", "namespace": "ml"}, "spec": {"model": MODEL}}
    assert "Rollout:    none: a new revision replaces the old" in format_status(body)


def test_the_json_document_carries_the_status_and_the_rollout_run() -> None:
    body = {
        "metadata": {"name": "fraud", "namespace": "ml", "generation": 3},
        "spec": {"model": MODEL, "rollout": {"stepWeights": [10, 40]}},
        "status": {"phase": "Canary", "weight": 10},
    }
    document = status_document(body, None)
    assert document == {
        "namespace": "ml",
        "name": "fraud",
        "generation": 3,
        "effectiveRollout": "steps 10, 40 every 30s via replicas; schema changes refused; "
        "checks: none",
        "status": {"phase": "Canary", "weight": 10},
    }


def api_error(status: int, reason: str, body: dict[str, Any] | str) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = json.dumps(body) if isinstance(body, dict) else body
    return error


def test_api_errors_are_said_in_one_line_without_their_body() -> None:
    not_found = api_error(
        404,
        "Not Found",
        {"kind": "Status", "reason": "NotFound", "message": 'x "iris" not found',
         "details": {"name": "iris", "group": "modeldeploy.io", "kind": "modeldeployments"}},
    )  # fmt: skip
    assert describe(not_found, "ml") == "modeldeployment iris not found in namespace ml"
    no_crd = api_error(404, "Not Found", "404 page not found")
    assert describe(no_crd, "ml").startswith("the cluster does not serve modeldeployments.")
    forbidden = api_error(403, "Forbidden", {"kind": "Status", "message": 'User "a" cannot get'})
    assert describe(forbidden) == 'User "a" cannot get'
    unauthorized = api_error(401, "Unauthorized", {"kind": "Status", "message": "Unauthorized"})
    assert describe(unauthorized) == "the cluster refused the credentials: Unauthorized"
    assert describe(api_error(500, "Internal Server Error", "<html>oops</html>")) == (
        "the API server answered 500: Internal Server Error"
    )


def test_network_errors_name_the_server_and_the_cause() -> None:
    resolving = NewConnectionError(None, "Failed to resolve 'api.example.com'")  # type: ignore[arg-type]
    resolving.__cause__ = socket.gaierror(-2, "Name or service not known")
    outer = MaxRetryError(None, "/apis", resolving)  # type: ignore[arg-type]
    assert describe(outer, server="https://api.example.com") == (
        "cannot reach the cluster at https://api.example.com: Name or service not known"
    )
    quiet = ReadTimeoutError(None, "/apis", "Read timed out. (read timeout=60)")  # type: ignore[arg-type]
    assert describe(quiet, server="https://k") == (
        "cannot reach the cluster at https://k: Read timed out. (read timeout=60)"
    )
    assert describe(ConfigException("Invalid kube-config file.\nNo user.")) == (
        "kubeconfig: Invalid kube-config file. No user."
    )
