"""`kubectl modeldeploy`: read a rollout's status and steer it.

Every command writes an annotation on the ModelDeployment, the same one a GitOps user could
commit: `modeldeploy.io/paused`, or a one-shot `modeldeploy.io/<verb>: <verb>@<time>` that the
operator carries out once.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from modeldeploy.api.commands import PAUSED, PREFIX
from modeldeploy.api.policy import POLICY_PLURAL, PolicySnapshot
from modeldeploy.api.spec import GROUP, PLURAL, VERSION, ModelDeploymentSpec
from modeldeploy.policy.merge import apply_defaults
from modeldeploy.policy.select import read_policy
from modeldeploy.rollout import resolved_steps
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


PolicyCache = dict[tuple[str, int], dict[str, Any] | None]


def _render(
    api: client.CustomObjectsApi, body: dict[str, Any], output: str, policies: PolicyCache
) -> str:
    policy_body = _policy_of(api, body, policies)
    if output == "json":
        return json.dumps(status_document(body, policy_body), sort_keys=True)
    return format_status(body, policy_body)


def _status(
    api: client.CustomObjectsApi, namespace: str, name: str, follow: bool, output: str
) -> int:
    body: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    # A watch prints at every change; the policy is read again only when its generation moves.
    policies: PolicyCache = {}
    last = _render(api, dict(body), output, policies)
    print(last, flush=True)
    if not follow:
        return 0
    stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
        api.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        field_selector=f"metadata.name={name}",
        resource_version=body["metadata"]["resourceVersion"],
    )
    try:
        for event in stream:
            if event["type"] == "DELETED":
                print(f"modeldeployment {namespace}/{name} was deleted", file=sys.stderr)
                return 0
            text = _render(api, dict(event["object"]), output, policies)
            if text != last:
                if output == "text":
                    print(f"\n--- {datetime.now().strftime('%H:%M:%S')}")
                print(text, flush=True)
                last = text
    except KeyboardInterrupt:
        return 0
    return 0


def _policy_of(
    api: client.CustomObjectsApi, body: dict[str, Any], policies: PolicyCache
) -> dict[str, Any] | None:
    named = (body.get("status") or {}).get("policy")
    if not named:
        return None
    key = (str(named["name"]), int(named.get("generation") or 0))
    if key not in policies:
        try:
            found: Any = api.get_cluster_custom_object(GROUP, VERSION, POLICY_PLURAL, key[0])
            policies[key] = dict(found)
        except ApiException:
            policies[key] = None  # gone, or not readable: the spec's own rollout is shown
    return policies[key]


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
        if verb == "status":
            command.add_argument(
                "-w", "--watch", action="store_true", help="print again at every change"
            )
            command.add_argument(
                "-o", "--output", choices=("text", "json"), default="text",
                help="json: one document per line, for scripts",
            )  # fmt: skip
    args = parser.parse_args(argv)

    config.load_kube_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    namespace = args.namespace
    if namespace is None:
        _, active = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
        namespace = active.get("context", {}).get("namespace", "default")
    api = client.CustomObjectsApi()
    try:
        if args.verb == "status":
            return _status(api, namespace, args.name, args.watch, args.output)
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
