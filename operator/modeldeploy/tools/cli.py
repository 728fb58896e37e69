"""`kubectl modeldeploy`: read a rollout's status, wait for it to end, and steer it.

Every steering command writes an annotation on the ModelDeployment, the same one a GitOps user
could commit: `modeldeploy.io/paused`, or a one-shot `modeldeploy.io/<verb>: <verb>@<time>`
that the operator carries out once. `status --wait` exits with the rollout's outcome
(`verdict.py`: 0 Ready, 1 rolled back, Degraded or Failed, 2 timed out, 3 an error), as CI gates
on `kubectl argo rollouts status`.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, NoReturn

from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from modeldeploy.api.commands import PAUSED, PREFIX
from modeldeploy.api.policy import PolicySnapshot
from modeldeploy.api.spec import ModelDeploymentSpec, parse_duration
from modeldeploy.policy.merge import apply_defaults
from modeldeploy.policy.select import read_policy
from modeldeploy.rollout import resolved_steps
from modeldeploy.tools.completion import SHELLS, completion_script, grammar_of
from modeldeploy.tools.failures import CommandError, describe
from modeldeploy.tools.session import Session, connect
from modeldeploy.tools.tree import ASCII, UNICODE, build_tree, render_tree
from modeldeploy.tools.verdict import (
    EXIT_ERROR,
    EXIT_READY,
    EXIT_TIMEOUT,
    EXIT_UNHEALTHY,
    Verdict,
    exit_code_now,
    judge,
)
from modeldeploy.tools.watching import Change, Obj, changes, list_objects
from modeldeploy.validation import InvalidSpec, load_spec


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def command_annotations(verb: str, full: bool = False) -> dict[str, str | None]:
    """The annotation patch for a verb."""
    if verb == "pause":
        return {PAUSED: "true"}
    if verb == "resume":
        return {PAUSED: None}
    if verb == "promote":
        return {f"{PREFIX}promote": f"{'full' if full else 'step'}@{_now()}"}
    if verb in ("abort", "retry", "undo"):
        return {f"{PREFIX}{verb}": f"{verb}@{_now()}"}
    raise ValueError(f"unknown command {verb}")


def describe_rollout(model_spec: ModelDeploymentSpec) -> str:
    """The rollout the operator runs, in one line."""
    rollout = model_spec.rollout
    if rollout is None:
        return "none: a new revision replaces the old once all its replicas are Ready"
    steps = ", ".join(str(s.weight) for s in resolved_steps(rollout))
    checks = "; ".join(
        f"{c.name} "
        + " ".join(
            f"{key} {value:g}"
            for key, value in (("max", c.max), ("min", c.min), ("maxIncrease", c.max_increase))
            if value is not None
        )
        for c in rollout.checks
    )
    if rollout.strategy == "blueGreen":
        preview = rollout.blue_green.preview_duration if rollout.blue_green else "1m"
        shape = f"blue/green, preview {preview}, checks every {rollout.interval}"
    else:
        shape = f"steps {steps} every {rollout.interval}"
    extras = []
    if rollout.shadow is not None:
        extras.append(f"shadow {rollout.shadow.percent:g}% for {rollout.shadow.duration}")
    if rollout.smoke_test is not None:
        extras.append("smoke test")
    extras.append(
        "schema changes " + ("allowed" if rollout.schema_change == "Allow" else "refused")
    )
    return f"{shape} via {rollout.traffic.router}; {', '.join(extras)}; checks: {checks or 'none'}"


def effective_rollout(body: dict[str, Any], policy_body: dict[str, Any] | None) -> str:
    """The rollout after the policy's defaults: those a rollout in flight started under, else
    those of the policy status names (`policy_body`)."""
    status = body.get("status") or {}
    snapshot = (status.get("rollout") or {}).get("policy")
    defaults = None
    if snapshot is not None:
        defaults = PolicySnapshot.model_validate(snapshot).defaults
    elif policy_body is not None:
        defaults = read_policy(policy_body).snapshot().defaults
    try:
        return describe_rollout(load_spec(apply_defaults(body.get("spec") or {}, defaults)))
    except InvalidSpec as error:
        return f"the spec cannot be run: {error}"


def _gate_lines(preflight: dict[str, Any] | None, shadow: dict[str, Any] | None) -> list[str]:
    """The preflight's and the shadow's records, as status keeps them."""
    lines = []
    if preflight:
        lines.append(f"Preflight:  {preflight.get('phase')}: {preflight.get('message', '')}")
        for failure in preflight.get("failures") or []:
            lines.append(
                f"  {failure['request']}: expected {failure['expected']}, got {failure['got']}"
            )
    if shadow:
        state = f"passed {shadow['passedAt']}" if shadow.get("passedAt") else "running"
        lines.append(f"Shadow:     since {shadow.get('startedAt')}, {state}")
    return lines


def format_status(body: dict[str, Any], policy_body: dict[str, Any] | None = None) -> str:
    """A person's view of the status: where the rollout is and why."""
    meta, status = body["metadata"], body.get("status") or {}
    lines = [
        f"Name:       {meta['namespace']}/{meta['name']}",
        f"Phase:      {status.get('phase', '-')}",
        f"Message:    {status.get('message', '')}",
    ]
    policy = status.get("policy")
    if policy:
        lines.append(f"Policy:     {policy['name']} (generation {policy['generation']})")
    lines.append(f"Rollout:    {effective_rollout(body, policy_body)}")
    stable = status.get("stable")
    if stable:
        lines.append(
            f"Stable:     {stable['version']} ({stable['revision']}) "
            f"{stable.get('readyReplicas', 0)}/{stable.get('replicas', 0)} ready"
        )
    canary = status.get("canary")
    if canary:
        lines.append(
            f"Canary:     {canary['version']} ({canary['revision']}) "
            f"{canary.get('readyReplicas', 0)}/{canary.get('replicas', 0)} ready"
        )
    state = status.get("rollout")
    if state and "step" in state:
        lines.append(
            f"Step:       {state['step'] + 1}, weight {status.get('weight', 0)}% "
            f"(effective {status.get('effectiveWeight', 0)}%), "
            f"failures {state.get('failures', 0)}, inconclusive {state.get('inconclusive', 0)}"
        )
    lines.extend(_gate_lines((state or {}).get("preflight"), (state or {}).get("shadow")))
    rolled_back = status.get("rolledBack")
    if rolled_back:
        lines.append(
            f"RolledBack: {rolled_back['version']} ({rolled_back['revision']}): "
            f"{rolled_back['reason']}"
        )
        lines.extend(_gate_lines(rolled_back.get("preflight"), None))
    checks = status.get("checks") or []
    if checks:
        lines.append("Checks:")
        for check in checks:
            lines.append(
                f"  {check['name']:<20} {check['verdict']:<13} {check.get('message', '')}"
                f"  [{check.get('measuredAt', '')}]"
            )
    history = status.get("history") or []
    if history:
        lines.append("History:")
        for entry in history:
            lines.append(
                f"  {entry['at']}  {entry['outcome']:<11} {entry['version']} ({entry['revision']})"
                f"  {entry.get('reason', '')}"
            )
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        for condition in conditions:
            lines.append(
                f"  {condition['type']:<12} {condition['status']:<6} {condition['reason']:<20} "
                f"{condition.get('message', '')}"
            )
    return "\n".join(lines)


def status_document(body: dict[str, Any], policy_body: dict[str, Any] | None) -> dict[str, Any]:
    """The status as scripts read it: the object's own, plus the rollout the operator runs."""
    meta = body["metadata"]
    return {
        "namespace": meta["namespace"],
        "name": meta["name"],
        "generation": meta.get("generation"),
        "effectiveRollout": effective_rollout(body, policy_body),
        "status": body.get("status") or {},
    }


# --- the command line ---------------------------------------------------------------------

STEERING = [
    ("pause", "hold the ramp at its step"),
    ("resume", "let a paused ramp go on"),
    ("promote", "advance one step (or all with --full)"),
    ("abort", "roll the canary back now"),
    ("retry", "try a rolled-back revision again"),
    ("undo", "go back to the previous stable revision"),
]
GLOBAL_DESTS = {"namespace", "kubeconfig", "context", "output"}
EXIT_CODES = f"""exit codes of status (the other verbs: 0, or {EXIT_ERROR} for an error):
  {EXIT_READY}  Ready; without --wait, also a rollout still under way
  {EXIT_UNHEALTHY}  rolled back (or undone), Degraded or Failed: it will not serve without a change
  {EXIT_TIMEOUT}  with --wait: --timeout passed first (paused, awaiting approval: not an end)
  {EXIT_ERROR}  an error: bad arguments, no kubeconfig, not found, forbidden, unreachable"""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with EXIT_ERROR, not argparse's 2, which `--wait` uses for a timeout."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("global options, before or after the verb")
    group.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's)"
    )
    group.add_argument(
        "--kubeconfig", default=default, help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)"
    )
    group.add_argument(
        "--context", default=default, help="kubeconfig context (default: the current one)"
    )
    group.add_argument(
        "-o", "--output", choices=("text", "json"), default=default,
        help="json: one document per line, for scripts",
    )  # fmt: skip


def _duration(text: str) -> float:
    if text.strip() in ("0", ""):
        return 0.0
    try:
        return parse_duration(text.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubectl modeldeploy",
        description="Inspect, wait for and steer ModelDeployment rollouts",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Given before the verb they land here; after it, the verb's parser sets them (its defaults
    # are suppressed, so that it does not overwrite what was given before).
    _global_options(parser, None)
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text, **kwargs)
        _global_options(command, argparse.SUPPRESS)
        return command

    status = verb(
        "status",
        "show the rollout; --wait for it to end, with its outcome as exit code",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("name")
    status.add_argument(
        "-w", "--watch", action="store_true",
        help="print again at every change (with --wait: one line per change, until it ends)",
    )  # fmt: skip
    status.add_argument(
        "--wait", action="store_true",
        help="wait until the rollout of the current spec ends; print its last line",
    )  # fmt: skip
    status.add_argument(
        "--timeout", type=_duration, default=None, metavar="DURATION",
        help="with --wait: give up after this long (e.g. 30s, 10m, 1h; 0: never, the default)",
    )  # fmt: skip
    get = verb("get", "the ModelDeployment, its revisions, Deployments and checks as a tree")
    get.add_argument("name")
    get.add_argument("-w", "--watch", action="store_true", help="refresh at every change")
    get.add_argument("--no-color", action="store_true", help="no colour (none when piped)")
    for name, text in STEERING:
        command = verb(name, text)
        command.add_argument("name")
        if name == "promote":
            command.add_argument("--full", action="store_true", help="promote at once")
    completion = verb("completion", "print a shell completion script")
    completion.add_argument("shell", choices=SHELLS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "timeout", None) is not None and not args.wait:
        parser.error("--timeout applies to --wait")
    if args.verb == "completion":
        sys.stdout.write(completion_script(args.shell, grammar_of(parser, GLOBAL_DESTS)))
        return 0
    output = args.output or "text"
    session: Session | None = None
    try:
        session = connect(args.kubeconfig, args.context, args.namespace)
        if args.verb == "status":
            return _status(session, args.name, output, args.watch, args.wait, args.timeout)
        if args.verb == "get":
            color = _colour_wanted(sys.stdout, args.no_color)
            return _get(session, args.name, output, args.watch, color)
        session.annotate(args.name, command_annotations(args.verb, getattr(args, "full", False)))
    except (ApiException, ConfigException, CommandError, HTTPError, OSError) as error:
        if isinstance(error, BrokenPipeError):
            return _stdout_gone()
        namespace = session.namespace if session is not None else args.namespace
        server = session.server if session is not None else None
        print(f"error: {describe(error, namespace, server)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    print(f"modeldeployment {session.namespace}/{args.name}: {args.verb} requested")
    return 0


def _stdout_gone() -> int:
    """The reader of stdout went away (`| head`): end quietly, as kubectl does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


# --- status -------------------------------------------------------------------------------

PolicyCache = dict[tuple[str, int], dict[str, Any] | None]


def _status(
    session: Session,
    name: str,
    output: str,
    follow: bool,
    wait: bool,
    timeout: float | None,
) -> int:
    body = session.model_deployment(name)
    if wait:
        return _wait(session, body, output, follow, timeout or 0.0)
    # A watch prints at every change; the policy is read again only when its generation moves.
    policies: PolicyCache = {}
    last = _render(session, body, output, policies)
    print(last, flush=True)
    if not follow:
        return exit_code_now(judge(body))
    try:
        for version in _versions(session, name, body["metadata"]["resourceVersion"]):
            text = _render(session, version, output, policies)
            if text != last:
                if output == "text":
                    print(f"\n--- {datetime.now().strftime('%H:%M:%S')}")
                print(text, flush=True)
                last = text
    except _Deleted:
        print(f"modeldeployment {session.namespace}/{name} was deleted", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    return 0


def _wait(session: Session, body: Obj, output: str, follow: bool, timeout: float) -> int:
    """Waits for the rollout of the current spec to end (`verdict.judge`), through a watch;
    prints one line (or document) per change with `follow`, else the last one only."""
    name = body["metadata"]["name"]
    deadline = time.monotonic() + timeout if timeout > 0 else None

    def shown(of: Obj, verdict: Verdict) -> str:
        if output == "json":
            return json.dumps(status_document(of, None), sort_keys=True)
        return verdict.line()

    verdict = judge(body)
    last = shown(body, verdict)
    if follow:
        print(last, flush=True)
    try:
        if not verdict.done:
            rv = body["metadata"]["resourceVersion"]
            for version in _versions(session, name, rv, deadline):
                verdict = judge(version)
                text = shown(version, verdict)
                if follow and text != last:
                    print(text, flush=True)
                last = text
                if verdict.done:
                    break
    except _Deleted:
        raise CommandError(
            f"modeldeployment {name} was deleted from namespace {session.namespace}"
        ) from None
    if not follow:
        print(last, flush=True)
    if not verdict.done:
        print(
            f"error: timed out after {_seconds(timeout)} waiting for modeldeployment {name} "
            f"in namespace {session.namespace}: {verdict.line()}",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    return verdict.exit_code if verdict.exit_code is not None else EXIT_ERROR


class _Deleted(Exception):
    pass


def _versions(
    session: Session, name: str, resource_version: str, deadline: float | None = None
) -> Iterator[Obj]:
    """Each new version of the ModelDeployment `name` until `deadline`; _Deleted if it goes."""
    for change in changes(session.model_deployments(name), resource_version, deadline):
        if change.kind == "DELETED" or not change.objects:
            raise _Deleted()
        yield change.objects[-1]


def _seconds(seconds: float) -> str:
    whole = int(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{seconds:g}s"


def _render(session: Session, body: Obj, output: str, policies: PolicyCache) -> str:
    policy_body = _policy_of(session, body, policies)
    if output == "json":
        return json.dumps(status_document(body, policy_body), sort_keys=True)
    return format_status(body, policy_body)


def _policy_of(session: Session, body: Obj, policies: PolicyCache) -> Obj | None:
    named = (body.get("status") or {}).get("policy")
    if not named:
        return None
    key = (str(named["name"]), int(named.get("generation") or 0))
    if key not in policies:
        # Gone, or not readable: the spec's own rollout is shown.
        policies[key] = session.policy(key[0])
    return policies[key]


# --- get ----------------------------------------------------------------------------------

CLEAR_SCREEN = "\x1b[H\x1b[2J"


def _colour_wanted(stream: IO[str], no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and stream.isatty()


def _symbols_for(stream: IO[str]) -> Any:
    try:
        "".join(vars(UNICODE).values()).encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def _get(session: Session, name: str, output: str, follow: bool, color: bool) -> int:
    body = session.model_deployment(name)
    deployments, deployments_rv = _deployments(session, name)
    in_place = follow and output == "text" and sys.stdout.isatty()
    symbols = _symbols_for(sys.stdout)

    def show(first: bool) -> str:
        tree = build_tree(body, None if deployments is None else list(deployments.values()))
        if output == "json":
            return json.dumps(tree.document(), sort_keys=True)
        text = "\n".join(render_tree(tree, color, symbols))
        if in_place:
            return CLEAR_SCREEN + text
        return text if first else "\n" + text

    last = show(first=True)
    print(last, flush=True)
    if not follow:
        return 0
    updates: queue.Queue[tuple[str, Change] | BaseException] = queue.Queue()
    _feed(updates, "md", lambda: changes(session.model_deployments(name), _rv(body)))
    if deployments is not None and deployments_rv is not None:
        _feed(updates, "deployments", lambda: changes(session.deployments_of(name), deployments_rv))
    try:
        while True:
            update = updates.get()
            if isinstance(update, BaseException):
                raise update
            source, change = update
            if source == "md":
                if change.kind == "DELETED" or not change.objects:
                    gone = f"modeldeployment {session.namespace}/{name} was deleted"
                    print(gone, file=sys.stderr)
                    return 0
                body = change.objects[-1]
            elif deployments is not None:
                _apply(deployments, change)
            text = show(first=False)
            if text.strip() != last.strip():
                print(text, flush=True)
                last = text
    except KeyboardInterrupt:
        return 0


def _rv(body: Obj) -> str:
    return str(body["metadata"]["resourceVersion"])


def _deployments(session: Session, name: str) -> tuple[dict[str, Obj] | None, str | None]:
    """The Deployments of `name` by their name, and the list's resourceVersion; (None, None)
    when they may not be read: the tree then says so."""
    try:
        items, rv = list_objects(session.deployments_of(name))
    except ApiException as error:
        if error.status in (401, 403):
            return None, None
        raise
    return {str(d["metadata"]["name"]): d for d in items}, rv


def _apply(deployments: dict[str, Obj], change: Change) -> None:
    if change.kind == "LISTED":
        deployments.clear()
    for obj in change.objects:
        key = str(obj["metadata"]["name"])
        if change.kind == "DELETED":
            deployments.pop(key, None)
        else:
            deployments[key] = obj


def _feed(
    updates: queue.Queue[tuple[str, Change] | BaseException],
    source: str,
    stream: Callable[[], Iterator[Change]],
) -> None:
    """Runs a watch in a thread of its own, its changes (or its failure) into `updates`."""

    def run() -> None:
        try:
            for change in stream():
                updates.put((source, change))
        except BaseException as error:  # handed to the main thread, which says it
            updates.put(error)

    threading.Thread(target=run, name=f"watch-{source}", daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
