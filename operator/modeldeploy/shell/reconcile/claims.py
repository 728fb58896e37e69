"""Before a decision is recorded: does every child it would write belong to this
ModelDeployment, or is its name free? An object of a child's name that is someone else's (no
controller ownerReference to this ModelDeployment's uid) is left as it is, and the
ModelDeployment is held with the reason until it is gone.

The caches answer for the children the operator labelled; only a name they do not hold is read
from the API server, so a ModelDeployment at rest costs no request here.
"""

from __future__ import annotations

from modeldeploy import rollout
from modeldeploy.api import names
from modeldeploy.api.spec import KIND
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.stores import DEPLOYMENT, SERVICE, ChildStore
from modeldeploy.workload.ownership import why_foreign

PDB = "PodDisruptionBudget"


def foreign_children(
    kube: Kube,
    children: ChildStore,
    namespace: str,
    name: str,
    uid: str,
    decision: rollout.Decision,
) -> list[str]:
    """Why each child the decision would write is not this ModelDeployment's to write; empty
    when every one is its own or does not exist yet."""
    reasons: list[str] = []

    def check(kind: str, child: str) -> bool:
        """True when the name is free or ours; a reason is kept otherwise."""
        cached, controller = children.controller(kind, namespace, child)
        if cached and controller == uid:
            return True
        found = kube.get_child(kind, namespace, child)
        why = None if found is None else why_foreign(found, kind, KIND, uid)
        if why is not None:
            reasons.append(why)
        return why is None

    for revision in sorted(decision.replicas):
        deployment = names.deployment_name(name, revision)
        cached, controller = children.controller(DEPLOYMENT, namespace, deployment)
        if cached and controller == uid:
            continue  # ours, and its budget was made with it, owned by it
        if decision.sources.get(revision) is None and not cached:
            continue  # only resized, and only where it exists as ours
        if not check(DEPLOYMENT, deployment):
            continue
        budget = kube.get_child(PDB, namespace, deployment)
        if budget is None:
            continue
        live = kube.get_child(DEPLOYMENT, namespace, deployment)
        live_uid = str((live or {}).get("metadata", {}).get("uid", ""))
        why = why_foreign(budget, PDB, DEPLOYMENT, live_uid) if live_uid else None
        if live_uid == "" or why is not None:
            reasons.append(why or f"{PDB} {deployment} exists and is not this {KIND}'s")
    for service in (
        names.service_name(name),
        names.stable_service_name(name),
        names.canary_service_name(name),
    ):
        check(SERVICE, service)
    return reasons
