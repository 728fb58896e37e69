"""The plugin against the fake API server: `status --wait` through a watch until the rollout of
the current spec ends, its exit codes, the errors as one line, the global flags anywhere,
`--context`, `get`'s tree and the follow modes. The statuses are written by the tests through
the status subresource, as the operator would write them; no operator runs."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.tools.cli import main
from tests.fakeapi import FakeApiServer
from tests.fakeapi.fixtures import api_client
from tests.unit.shell.harness import NAMESPACE, install_crds, model_deployment

NAME = "iris"
MD_PATH = rf"/namespaces/{NAMESPACE}/modeldeployments"
MD_OBJECT = rf"{MD_PATH}/{NAME}$"


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as running:
        install_crds(running)
        yield running


@pytest.fixture
def kubeconfig(server: FakeApiServer, tmp_path: Path) -> str:
    return str(server.kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE))


class Cluster:
    def __init__(self, server: FakeApiServer) -> None:
        self.server = server
        self.custom = client.CustomObjectsApi(api_client(server))
        self.apps = client.AppsV1Api(api_client(server))

    def create(self, **annotations: str) -> dict[str, Any]:
        body = model_deployment(NAME, "v1")
        body["metadata"]["annotations"] = annotations
        created: Any = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, body
        )
        return dict(created)

    def change_spec(self, version: str) -> None:
        patch = {"spec": {"model": {"version": version}}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME, patch)

    def annotate(self, **annotations: str) -> None:
        patch = {"metadata": {"annotations": annotations}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME, patch)

    def write_status(self, status: dict[str, Any]) -> None:
        """Through the status subresource, as the operator writes it (a merge patch)."""
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, NAMESPACE, PLURAL, NAME, {"status": status}
        )

    def plugin_watching(self) -> None:
        self.server.wait_for(lambda: self.server.watches(MD_PATH), timeout=10)

    def deployment(self, revision: str, replicas: int, ready: int) -> None:
        body: dict[str, Any] = {
            "metadata": {
                "name": f"{NAME}-{revision}",
                "namespace": NAMESPACE,
                "labels": {"modeldeploy.io/name": NAME, "modeldeploy.io/revision": revision},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"modeldeploy.io/revision": revision}},
                "template": {
                    "metadata": {"labels": {"modeldeploy.io/revision": revision}},
                    "spec": {"containers": [{"name": "serve", "image": "serve:1"}]},
                },
            },
        }
        if self.server.get("deployments", body["metadata"]["name"], NAMESPACE) is None:
            self.apps.create_namespaced_deployment(NAMESPACE, body)  # type: ignore[arg-type]
        status = {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas}
        self.apps.patch_namespaced_deployment_status(
            f"{NAME}-{revision}", NAMESPACE, {"status": status}
        )


@pytest.fixture
def cluster(server: FakeApiServer) -> Cluster:
    return Cluster(server)


def track(revision: str, version: str, replicas: int = 4, ready: int = 4) -> dict[str, Any]:
    return {
        "revision": revision,
        "version": version,
        "deployment": f"{NAME}-{revision}",
        "replicas": replicas,
        "readyReplicas": ready,
    }


def ready(generation: int = 1, revision: str = "r1", version: str = "v1") -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "phase": "Ready",
        "message": f"4/4 replicas of {revision} ({version}) ready",
        "revision": revision,
        "stable": track(revision, version),
        "canary": None,
        "rollout": None,
        "weight": 0,
    }


def canary(generation: int = 2, phase: str = "Canary", step: int = 0) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "phase": phase,
        "message": f"step {step + 1}/2 at weight 25%",
        "revision": "r2",
        "stable": track("r1", "v1", 3, 3),
        "canary": track("r2", "v2", 1, 1),
        "rollout": {"revision": "r2", "version": "v2", "startedAt": "t", "step": step},
        "weight": 25,
    }


def rolled_back(generation: int = 2) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "phase": "RolledBack",
        "message": "revision r2 (v2) was rolled back: error-rate 0.2 > max 0.05",
        "revision": "r2",
        "stable": track("r1", "v1"),
        "canary": None,
        "rollout": None,
        "weight": 0,
        "rolledBack": {"revision": "r2", "version": "v2", "at": "t", "reason": "error-rate"},
    }


def in_background(cluster: Cluster, *steps: Callable[[], None]) -> threading.Thread:
    """Once the plugin watches, runs `steps` one after the other, as the operator would."""

    def run() -> None:
        cluster.plugin_watching()
        for step in steps:
            time.sleep(0.05)
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_plugin(*argv: str) -> int:
    return main(list(argv))


# --- status --wait ----------------------------------------------------------------------------


def test_wait_returns_0_once_the_spec_s_revision_serves_and_prints_only_that(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(ready())
    cluster.change_spec("v2")  # generation 2: the Ready above is of generation 1
    writer = in_background(
        cluster,
        lambda: cluster.write_status(canary(phase="Progressing")),
        lambda: cluster.write_status(canary()),
        lambda: cluster.write_status(canary(step=1)),
        lambda: cluster.write_status(ready(2, "r2", "v2")),
    )
    code = run_plugin(f"--kubeconfig={kubeconfig}", "status", NAME, "--wait", "--timeout=20s")
    writer.join()
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out == "Ready - 4/4 replicas of r2 (v2) ready\n"
    assert out.err == ""


def test_wait_with_watch_prints_one_line_per_change_until_it_ends(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(ready())
    cluster.change_spec("v2")
    writer = in_background(
        cluster,
        lambda: cluster.write_status(canary()),
        lambda: cluster.write_status({"effectiveWeight": 20}),  # the same line: not printed again
        lambda: cluster.write_status(canary(phase="AwaitingApproval")),
        lambda: cluster.write_status(rolled_back()),
    )
    code = run_plugin("status", NAME, "--wait", "-w", "--kubeconfig", kubeconfig)
    writer.join()
    out = capsys.readouterr()
    assert code == 1, out.err
    assert out.out.splitlines() == [
        "Progressing - waiting for the operator to observe generation 2 (it has seen 1)",
        "Canary - step 1/2 at weight 25%",
        "AwaitingApproval - step 1/2 at weight 25%; "
        "waiting for an approval: kubectl modeldeploy promote iris",
        "RolledBack - revision r2 (v2) was rolled back: error-rate 0.2 > max 0.05",
    ]


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        ("Degraded", "1/4 replicas of r1 (v1) ready"),
        ("Failed", "the spec cannot be run: replicas must be >= 0"),
    ],
)
def test_wait_ends_with_1_on_degraded_and_failed(
    cluster: Cluster,
    kubeconfig: str,
    capsys: pytest.CaptureFixture[str],
    phase: str,
    message: str,
) -> None:
    cluster.create()
    writer = in_background(
        cluster, lambda: cluster.write_status({"observedGeneration": 1, "phase": phase,
                                               "message": message})
    )  # fmt: skip
    code = run_plugin("status", NAME, "--wait", "--kubeconfig", kubeconfig, "--timeout", "20s")
    writer.join()
    assert code == 1
    assert capsys.readouterr().out == f"{phase} - {message}\n"


def test_wait_on_a_rollout_already_over_returns_at_once_without_a_watch(
    cluster: Cluster, server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(rolled_back(1))
    assert run_plugin("status", NAME, "--wait", "--kubeconfig", kubeconfig) == 1
    assert capsys.readouterr().out.startswith("RolledBack - revision r2 (v2) was rolled back")
    assert server.request_count("GET", MD_PATH, watch=True) == 0


def test_wait_times_out_with_2_on_a_rollout_awaiting_approval(
    cluster: Cluster, server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(canary(generation=1, phase="AwaitingApproval"))
    started = time.monotonic()
    code = run_plugin("status", NAME, "--wait", "--timeout", "1s", "--kubeconfig", kubeconfig)
    took = time.monotonic() - started
    out = capsys.readouterr()
    assert code == 2
    assert 0.9 <= took < 5
    line = (
        "AwaitingApproval - step 1/2 at weight 25%; "
        "waiting for an approval: kubectl modeldeploy promote iris"
    )
    assert out.out == line + "\n"
    assert out.err == (
        f"error: timed out after 1s waiting for modeldeployment iris in namespace team: {line}\n"
    )
    # It waited on a watch the server ends at the timeout, not by polling.
    watches = [r for r in server.requests if r.watch and "modeldeployments" in r.path]
    assert [r.query.get("timeoutSeconds") for r in watches] == ["1"]
    assert watches[0].query.get("allowWatchBookmarks") == "true"
    assert server.request_count("GET", MD_OBJECT) == 1


def test_a_paused_rollout_goes_on_waiting_until_resumed_and_done(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create(**{"modeldeploy.io/paused": "true"})
    cluster.write_status(canary(generation=1, phase="Paused"))
    writer = in_background(
        cluster,
        lambda: cluster.annotate(**{"modeldeploy.io/paused": None}),  # type: ignore[arg-type]
        lambda: cluster.write_status(canary(generation=1)),
        lambda: cluster.write_status(ready(1, "r2", "v2")),
    )
    code = run_plugin("status", NAME, "-w", "--wait", "--kubeconfig", kubeconfig)
    writer.join()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "Paused - step 1/2 at weight 25%; waiting for a resume: kubectl modeldeploy resume iris",
        "Paused - step 1/2 at weight 25%; resumed; waiting for the operator to go on",
        "Canary - step 1/2 at weight 25%",
        "Ready - 4/4 replicas of r2 (v2) ready",
    ]


def test_a_retry_not_yet_acted_on_is_waited_for_not_read_as_the_rollback(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create(**{"modeldeploy.io/retry": "retry@2"})
    cluster.write_status(rolled_back(1))
    handled = {"handledCommands": {"retry": "retry@2"}}
    writer = in_background(
        cluster,
        lambda: cluster.write_status({**canary(generation=1), "rolledBack": None, **handled}),
        lambda: cluster.write_status(ready(1, "r2", "v2")),
    )
    code = run_plugin("status", NAME, "--wait", "-w", "--kubeconfig", kubeconfig)
    writer.join()
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "RolledBack - waiting for the operator to act on retry",
        "Canary - step 1/2 at weight 25%",
        "Ready - 4/4 replicas of r2 (v2) ready",
    ]


def test_wait_goes_on_after_its_watch_ends_or_expires(
    cluster: Cluster, server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(canary(generation=1))

    def watch_ended() -> None:
        assert server.end_watches(MD_PATH) == 1
        cluster.plugin_watching()  # opened again from the last version seen

    def history_gone_meanwhile() -> None:
        cluster.write_status(canary(generation=1, step=1))
        server.compact()
        assert server.end_watches(MD_PATH, error=410) >= 0
        cluster.plugin_watching()

    writer = in_background(
        cluster,
        watch_ended,
        lambda: cluster.write_status(canary(generation=1, phase="AwaitingApproval")),
        lambda: time.sleep(0.2),
        history_gone_meanwhile,
        lambda: cluster.write_status(ready(1, "r2", "v2")),
    )
    code = run_plugin("status", NAME, "-w", "--wait", "--kubeconfig", kubeconfig, "--timeout=20s")
    writer.join()
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0] == "Canary - step 1/2 at weight 25%"
    assert lines[-1] == "Ready - 4/4 replicas of r2 (v2) ready"
    assert "Canary - step 2/2 at weight 25%" in lines  # read by listing again after the 410
    assert server.request_count("GET", rf"{MD_PATH}$", watch=False) == 1
    assert server.request_count("GET", MD_PATH, watch=True) == 3


def test_an_object_deleted_while_waited_for_is_an_error(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(canary(generation=1))

    def delete() -> None:
        cluster.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, NAME)

    writer = in_background(cluster, delete)
    code = run_plugin("status", NAME, "--wait", "--kubeconfig", kubeconfig, "--timeout=20s")
    writer.join()
    out = capsys.readouterr()
    assert code == 3
    assert out.err == "error: modeldeployment iris was deleted from namespace team\n"


# --- status without --wait ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(rolled_back(1), 1), (canary(generation=1), 0), (ready(), 0), ({}, 0)],
)
def test_status_exits_1_for_a_rollout_that_ended_unhealthy(
    cluster: Cluster,
    kubeconfig: str,
    capsys: pytest.CaptureFixture[str],
    status: dict[str, Any],
    code: int,
) -> None:
    cluster.create()
    if status:
        cluster.write_status(status)
    assert run_plugin("status", NAME, "--kubeconfig", kubeconfig) == code
    assert capsys.readouterr().out.startswith("Name:       team/iris\n")


# --- errors ---------------------------------------------------------------------------------


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run_plugin(*argv) == 3
    out = capsys.readouterr()
    assert out.out == ""
    assert len(out.err.splitlines()) == 1, out.err
    assert "Traceback" not in out.err and "{" not in out.err
    return out.err.rstrip("\n")


@pytest.mark.parametrize("verb", ["status", "get", "pause", "promote", "retry"])
def test_a_missing_object_is_named_with_its_namespace(
    server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    error = error_of(capsys, verb, "nope", "--kubeconfig", kubeconfig, "-n", "ml")
    assert error == "error: modeldeployment nope not found in namespace ml"


def test_no_permission_says_the_api_server_s_message(
    server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    message = (
        'modeldeployments.modeldeploy.io "iris" is forbidden: User "alice" cannot get resource '
        '"modeldeployments" in API group "modeldeploy.io" in the namespace "team"'
    )
    server.fail_next("GET", MD_OBJECT, 403, "Forbidden", message=message)
    assert error_of(capsys, "status", NAME, "--kubeconfig", kubeconfig) == f"error: {message}"
    server.fail_next("PATCH", MD_OBJECT, 403, "Forbidden", message="patch forbidden")
    assert error_of(capsys, "abort", NAME, "--kubeconfig", kubeconfig) == "error: patch forbidden"


def test_an_unreachable_cluster_is_said_with_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeApiServer() as gone:
        path = gone.kubeconfig(tmp_path / "kubeconfig")
        url = gone.url
    error = error_of(capsys, "status", NAME, "--kubeconfig", str(path))
    assert error == f"error: cannot reach the cluster at {url}: Connection refused"


def test_a_cluster_without_the_crd_is_told_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeApiServer() as bare:
        path = str(bare.kubeconfig(tmp_path / "kubeconfig"))
        error = error_of(capsys, "status", NAME, "--kubeconfig", path)
    assert error == (
        "error: the cluster does not serve modeldeployments.modeldeploy.io/v1alpha1: "
        "is the ModelDeployment CRD installed?"
    )


def test_kubeconfig_and_context_mistakes_are_one_line(
    kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing")
    assert error_of(capsys, "status", NAME, "--kubeconfig", missing) == (
        f"error: kubeconfig {missing} does not exist"
    )
    assert error_of(capsys, "status", NAME, "--kubeconfig", kubeconfig, "--context", "prod") == (
        "error: context prod not found in the kubeconfig (it has: fakeapi)"
    )


def test_usage_errors_exit_3_not_the_timeout_s_2(
    kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["status"],
        ["status", NAME, "--timeout", "5m"],
        ["status", NAME, "--wait", "--timeout", "soon"],
        ["frobnicate", NAME],
        ["status", NAME, "-o", "yaml"],
    ):
        with pytest.raises(SystemExit) as exited:
            run_plugin(*argv, "--kubeconfig", kubeconfig)
        assert exited.value.code == 3, argv
    assert "--timeout applies to --wait" in capsys.readouterr().err


# --- global flags and contexts ----------------------------------------------------------------


def two_contexts(server: FakeApiServer, tmp_path: Path) -> str:
    """A kubeconfig whose current context points at nothing; `fake` at the server."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}},
            {"name": "fake", "cluster": {"server": server.url}},
        ],
        "users": [{"name": "me", "user": {}}],
        "contexts": [
            {"name": "broken", "context": {"cluster": "nowhere", "user": "me"}},
            {"name": "fake", "context": {"cluster": "fake", "user": "me", "namespace": NAMESPACE}},
        ],
        "current-context": "broken",
    }
    path = tmp_path / "two"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_context_selects_the_cluster_and_its_namespace(
    cluster: Cluster, server: FakeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(ready())
    path = two_contexts(server, tmp_path)
    assert run_plugin("status", NAME, "--wait", "--context", "fake", "--kubeconfig", path) == 0
    assert capsys.readouterr().out == "Ready - 4/4 replicas of r1 (v1) ready\n"
    error = error_of(capsys, "--kubeconfig", path, "status", NAME)
    assert error.startswith("error: cannot reach the cluster at http://127.0.0.1:9: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", NAMESPACE, "-o", "json", "--kubeconfig={kc}", "status", NAME],
        ["status", NAME, "-n", NAMESPACE, "-o", "json", "--kubeconfig", "{kc}"],
        ["--kubeconfig", "{kc}", "status", "-o", "json", NAME, "--namespace", NAMESPACE],
        ["-n", "elsewhere", "--kubeconfig", "{kc}", "status", NAME, "-n", NAMESPACE, "-o=json"],
        ["--output=json", "status", "--kubeconfig={kc}", NAME],  # the context's namespace
    ],
)
def test_global_flags_go_before_or_after_the_verb(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    cluster.create()
    assert run_plugin(*(a.replace("{kc}", kubeconfig) for a in argv)) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["namespace"], document["name"]) == (NAMESPACE, NAME)


def test_a_command_with_its_flags_after_the_verb_writes_its_annotation(
    cluster: Cluster, server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    assert run_plugin("promote", NAME, "--full", "-n", NAMESPACE, "--kubeconfig", kubeconfig) == 0
    assert capsys.readouterr().out == "modeldeployment team/iris: promote requested\n"
    stored = server.get("modeldeployments", NAME, NAMESPACE) or {}
    assert stored["metadata"]["annotations"]["modeldeploy.io/promote"].startswith("full@")


# --- get ------------------------------------------------------------------------------------


def test_get_draws_the_revisions_deployments_and_checks(
    cluster: Cluster, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    checks = [{"name": "error-rate", "verdict": "Pass", "value": 0.001, "bound": "max 0.01"}]
    cluster.write_status({**canary(generation=1), "checks": checks})
    cluster.deployment("r1", 3, 3)
    cluster.deployment("r2", 1, 0)
    assert run_plugin("get", NAME, "--kubeconfig", kubeconfig) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out, "no colour when stdout is not a terminal"
    table = [" ".join(line.split()) for line in out.splitlines()[6:]]
    assert table == [
        "iris ModelDeployment ◌ Canary step 1, weight 25%",
        "├──stable Revision ✔ 3/3 ready v1 (r1), weight 75%",
        "│ └──iris-r1 Deployment ✔ 3/3 ready",
        "├──canary Revision ✔ 1/1 ready v2 (r2), weight 25%",
        "│ └──iris-r2 Deployment ◌ 0/1 ready",
        "└──checks Checks ✔ 1/1 passed",
        "└──error-rate Check ✔ Pass 0.001, bound max 0.01",
    ]


def test_get_without_leave_to_read_deployments_still_draws_the_revisions(
    cluster: Cluster, server: FakeApiServer, kubeconfig: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.create()
    cluster.write_status(ready())
    server.fail_next("GET", rf"/namespaces/{NAMESPACE}/deployments$", 403, "Forbidden")
    assert run_plugin("get", NAME, "--kubeconfig", kubeconfig, "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)
    stable = document["root"]["children"][0]
    assert stable["children"][0]["status"] == "unknown"


# --- following, as a script or a person runs it ---------------------------------------------


class Plugin:
    """The plugin in a process of its own, its stdout read line by line as it comes."""

    def __init__(self, *argv: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modeldeploy.tools.cli", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not predicate(list(self.lines)):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{what}: got {self.lines}, exit {self.process.poll()}")
            time.sleep(0.02)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        return self.process.stderr.read()


def test_status_watch_json_prints_a_document_per_change_as_the_gitops_scenario_reads_it(
    cluster: Cluster, kubeconfig: str
) -> None:
    cluster.create()
    cluster.write_status(ready())
    plugin = Plugin(f"--kubeconfig={kubeconfig}", "-n", NAMESPACE, "status", NAME, "--watch",
                    "-o", "json")  # fmt: skip
    try:
        plugin.wait_for(lambda lines: len(lines) == 1, "the first document")
        cluster.change_spec("v2")
        cluster.write_status(canary(phase="Paused"))
        cluster.write_status(rolled_back())
        plugin.wait_for(lambda lines: "RolledBack" in lines[-1], "the rollback")
    finally:
        errors = plugin.stop()
    documents = [json.loads(line) for line in plugin.lines]
    phases = [d["status"]["phase"] for d in documents]
    assert phases[0] == "Ready" and phases[-1] == "RolledBack" and "Paused" in phases
    assert all(d["name"] == NAME and "effectiveRollout" in d for d in documents), errors


def test_get_watch_draws_the_tree_again_when_a_deployment_changes(
    cluster: Cluster, kubeconfig: str
) -> None:
    cluster.create()
    cluster.write_status(ready())
    cluster.deployment("r1", 4, 3)
    plugin = Plugin("get", NAME, "-w", "--kubeconfig", kubeconfig)
    try:
        plugin.wait_for(lambda lines: any("iris-r1" in line for line in lines), "the tree")
        cluster.deployment("r1", 4, 4)
        plugin.wait_for(
            lambda lines: any("iris-r1" in line and "4/4" in line for line in lines),
            "the tree drawn again",
        )
    finally:
        errors = plugin.stop()
    assert errors == ""
    assert sum(1 for line in plugin.lines if line.startswith("Name:")) == 2
    assert not any("\x1b[" in line for line in plugin.lines), "no escapes into a pipe"


def on_a_terminal(*argv: str, until: str, env: dict[str, str] | None = None) -> str:
    """What the plugin writes to a terminal (a pseudo-terminal), once `until` shows in it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "modeldeploy.tools.cli", *argv],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 20
    try:
        while until.encode() not in seen and time.monotonic() < deadline:
            ready_to_read, _, _ = select.select([leader], [], [], 0.1)
            if ready_to_read:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break  # the plugin ended and closed its side
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(leader)
    return seen.decode(errors="replace")


def test_on_a_terminal_get_colours_and_watch_redraws_in_place(
    cluster: Cluster, kubeconfig: str
) -> None:
    cluster.create()
    cluster.write_status(ready())
    cluster.deployment("r1", 4, 4)
    drawn = on_a_terminal("get", NAME, "--watch", "--kubeconfig", kubeconfig, until="iris-r1")
    assert drawn.startswith("\x1b[H\x1b[2J"), "the screen cleared before the tree"
    assert "\x1b[32m✔ Ready" in drawn
    plain = on_a_terminal("get", NAME, "--no-color", "--kubeconfig", kubeconfig, until="iris-r1")
    assert "\x1b[" not in plain and "✔ Ready" in plain
    no_color = on_a_terminal(
        "get", NAME, "--kubeconfig", kubeconfig, until="iris-r1", env={"NO_COLOR": "1"}
    )
    assert "\x1b[" not in no_color
