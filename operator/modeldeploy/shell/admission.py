"""Admission: refuse at `kubectl apply` what the operator would refuse later.

The CRD's schema and CEL rules refuse most bad input in the API server itself; this answers the
API server's AdmissionReview for what they cannot see: a check's PromQL, the rules of the
ClusterRolloutPolicy that applies, and a policy whose defaults break its own rules. The words
are those the operator puts in status, so a refusal here and a status there read the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modeldeploy.api.policy import POLICY_KIND
from modeldeploy.api.revision import compute_revision
from modeldeploy.api.spec import DEFAULT_SERVING_IMAGE, KIND
from modeldeploy.api.status import ModelDeploymentStatus
from modeldeploy.api.webhook_targets import STRICT, TargetRules
from modeldeploy.policy.approval import approval_refusal
from modeldeploy.policy.govern import govern
from modeldeploy.policy.select import Policy, read_policy, select_policy
from modeldeploy.rollout import approximation
from modeldeploy.validation import InvalidSpec, load_spec, notification_problems

HTTP_UNPROCESSABLE = 422


def _verdict(uid: str, refusal: str | None, warnings: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": refusal is None}
    if refusal is not None:
        response["status"] = {"code": HTTP_UNPROCESSABLE, "reason": "Invalid", "message": refusal}
    elif warnings:
        # kubectl prints each as "Warning: ..." under the applied object.
        response["warnings"] = warnings
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def refusal_for_model_deployment(
    obj: Mapping[str, Any],
    policies: Iterable[Policy],
    namespace_labels: Mapping[str, str],
    default_image: str = DEFAULT_SERVING_IMAGE,
    targets: TargetRules = STRICT,
) -> str | None:
    meta = obj.get("metadata") or {}
    raw = dict(obj.get("spec") or {})
    policy = select_policy(policies, namespace_labels)
    try:
        own = load_spec(raw, default_image, targets)
        revision = compute_revision(str(meta.get("name", "")), own)
        governed = govern(
            raw, revision, ModelDeploymentStatus(), policy, own, default_image, targets
        )
    except InvalidSpec as error:
        return f"{KIND} {meta.get('name')}: {error}"
    if governed.violations:
        return f"{KIND} {meta.get('name')}: " + "; ".join(governed.violations)
    return None


def warnings_for_model_deployment(obj: Mapping[str, Any]) -> list[str]:
    """What is taken but will not do quite what it says (a step the router can only
    approximate)."""
    try:
        spec = load_spec(dict(obj.get("spec") or {}))
    except InvalidSpec:
        return []
    approximate = approximation.warning(spec)
    return [approximate] if approximate is not None else []


def refusal_for_policy(obj: Mapping[str, Any], targets: TargetRules = STRICT) -> str | None:
    policy = read_policy(obj)
    if policy.problem is not None or policy.spec is None:
        return policy.problem
    problems = notification_problems(policy.spec.notifications, targets)
    return f"policy {policy.name}: " + "; ".join(problems) if problems else None


@dataclass(frozen=True)
class Verdict:
    refusal: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def spec_unchanged(
    operation: str | None, obj: Mapping[str, Any], old: Mapping[str, Any] | None
) -> bool:
    """Metadata-only writes (the plugin's commands, labels, finalizers) never depend on the
    spec being acceptable now: a policy tightened since must not lock them out."""
    return operation == "UPDATE" and old is not None and obj.get("spec") == old.get("spec")


def judge(
    kind: str | None,
    operation: str | None,
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    policies: Callable[[], Iterable[Policy]],
    namespace_labels: Callable[[str], Mapping[str, str]],
    default_image: str = DEFAULT_SERVING_IMAGE,
    targets: TargetRules = STRICT,
    userinfo: Mapping[str, Any] | None = None,
) -> Verdict:
    """Whether an object may be written, and what to warn its author of. A ModelDeployment
    that names no serving image is judged with `default_image`, the one it would run; webhook
    URLs by `targets`, what the operator allows; an approval by who writes it (`userinfo`)."""
    if kind == KIND:
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        policy = select_policy(policies(), namespace_labels(namespace))
        refused_approval = approval_refusal(obj, old, policy, userinfo)
        if refused_approval is not None:
            return Verdict(f"{KIND} {(obj.get('metadata') or {}).get('name')}: {refused_approval}")
    if spec_unchanged(operation, obj, old):
        return Verdict()
    if kind == KIND:
        refusal = refusal_for_model_deployment(
            obj, policies(), namespace_labels(namespace), default_image, targets
        )
        return Verdict(refusal, tuple(warnings_for_model_deployment(obj)))
    if kind == POLICY_KIND:
        return Verdict(refusal_for_policy(obj, targets))
    return Verdict()


def review(
    request_review: Mapping[str, Any],
    policies: Callable[[], Iterable[Policy]],
    namespace_labels: Callable[[str], Mapping[str, str]],
) -> dict[str, Any]:
    """The AdmissionReview response for an AdmissionReview request."""
    request = request_review.get("request") or {}
    obj = dict(request.get("object") or {})
    # The object of a CREATE may not carry its namespace yet; the request always does.
    obj["metadata"] = {"namespace": request.get("namespace", ""), **(obj.get("metadata") or {})}
    verdict = judge(
        (request.get("kind") or {}).get("kind"),
        request.get("operation"),
        obj,
        request.get("oldObject"),
        policies,
        namespace_labels,
        userinfo=request.get("userInfo"),
    )
    return _verdict(str(request.get("uid", "")), verdict.refusal, list(verdict.warnings))
