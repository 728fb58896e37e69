"""`kubectl modeldeploy`: read a rollout's status and steer it.

Every command writes an annotation on the ModelDeployment, the same one a GitOps user could
commit: `modeldeploy.io/paused`, or a one-shot `modeldeploy.io/<verb>: <verb>@<time>` that the
operator carries out once.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from modeldeploy.commands import PAUSED, PREFIX
from modeldeploy.spec import GROUP, PLURAL, VERSION


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


def format_status(body: dict[str, Any]) -> str:
    """A person's view of the status: where the rollout is and why."""
    meta, status = body["metadata"], body.get("status") or {}
    lines = [
        f"Name:       {meta['namespace']}/{meta['name']}",
        f"Phase:      {status.get('phase', '-')}",
        f"Message:    {status.get('message', '')}",
    ]
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
    rolled_back = status.get("rolledBack")
    if rolled_back:
        lines.append(
            f"RolledBack: {rolled_back['version']} ({rolled_back['revision']}): "
            f"{rolled_back['reason']}"
        )
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kubectl modeldeploy", description="Inspect and steer ModelDeployment rollouts"
    )
    parser.add_argument("-n", "--namespace", default=None)
    parser.add_argument("--kubeconfig", default=None)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, text in [
        ("status", "show the rollout"),
        ("pause", "hold the ramp at its step"),
        ("resume", "let a paused ramp go on"),
        ("promote", "advance one step (or all with --full)"),
        ("abort", "roll the canary back now"),
        ("retry", "try a rolled-back revision again"),
        ("undo", "go back to the previous stable revision"),
    ]:
        command = sub.add_parser(verb, help=text)
        command.add_argument("name")
        if verb == "promote":
            command.add_argument("--full", action="store_true", help="promote at once")
    args = parser.parse_args(argv)

    config.load_kube_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    namespace = args.namespace
    if namespace is None:
        _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
        namespace = active.get("context", {}).get("namespace", "default")
    api = client.CustomObjectsApi()
    try:
        if args.verb == "status":
            body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, args.name)
            print(format_status(dict(body)))  # type: ignore[call-overload]
            return 0
        patch = {
            "metadata": {
                "annotations": command_annotations(args.verb, getattr(args, "full", False))
            }
        }
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            args.name,
            patch,
            _content_type="application/merge-patch+json",
        )
    except ApiException as error:
        print(f"error: {error.status} {error.reason}: {error.body}", file=sys.stderr)
        return 1
    print(f"modeldeployment {namespace}/{args.name}: {args.verb} requested")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
