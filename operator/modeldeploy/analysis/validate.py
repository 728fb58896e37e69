"""Whether a check can ever run, decided from its spec alone.

Used where a ModelDeployment is admitted and again before the operator acts on it, so that a
check that could never run is refused at `kubectl apply`, or reported in status at once, and
not found out mid-rollout.
"""

from __future__ import annotations

import promql_parser

from modeldeploy.analysis import builtins, template
from modeldeploy.api.spec import CheckSpec

# Values that stand in for the real ones when a query is tried out; any valid value would do.
_TRIAL_VALUES = {
    "namespace": "default",
    "name": "model",
    "model": "model",
    "version": "v1",
    "revision": "abc123",
    "canary_revision": "abc123",
    "stable_revision": "def456",
    "interval": "1m",
}


def check_problem(check: CheckSpec) -> str | None:
    """Why `check` can never run, whatever Prometheus says; None when it can."""
    try:
        query = builtins.query_template(check)
        used = template.variables_used(query)
        rendered = template.render(query, _TRIAL_VALUES)
    except (builtins.UnknownCheck, template.TemplateError) as exc:
        return str(exc)
    try:
        promql_parser.parse(rendered)
    except ValueError as exc:
        return f"query is not valid PromQL: {exc}"
    if check.max_increase is None:
        return None
    if builtins.compares_with_stable(check):
        return f"maxIncrease does not apply to {check.name}, which compares with stable already"
    if "revision" not in used:
        # Without {{revision}} the stable run would measure the very same series.
        return 'maxIncrease needs the query to select revision="{{revision}}"'
    return None
