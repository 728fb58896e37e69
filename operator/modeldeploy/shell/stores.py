"""What the watches have seen: ModelDeployments and their children, read without an API call.

Reconciles read from here instead of GETting and LISTing, like controller-runtime's informer
caches. Each store tells, when it takes in an object, whether anything a reconcile looks at
changed, so that an event which changes nothing (a re-list, the echo of the operator's own
write) triggers no reconcile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from modeldeploy.api import names
from modeldeploy.api.observed import Observed, ObservedDeployment
from modeldeploy.policy.select import Policy, read_policy
from modeldeploy.workload.applied import ChildShape, shape_of
from modeldeploy.workload.ownership import controller_uid

Body = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name) of a ModelDeployment."""

DEPLOYMENT = "Deployment"
SERVICE = "Service"
AUTOSCALER = "HorizontalPodAutoscaler"


def _newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion `candidate` is not older than `current`. They are opaque to
    clients, but etcd's are integers; anything else is taken as newer."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


def _slim(body: Body) -> Body:
    meta = {k: v for k, v in body.get("metadata", {}).items() if k != "managedFields"}
    return {**body, "metadata": meta}


class ModelDeploymentStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[Key, Body] = {}

    def upsert(self, body: Body) -> bool:
        """Takes in a watched or written object; True when it is news (a resourceVersion not
        seen yet), False for an older or already known one."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        version = str(meta.get("resourceVersion", ""))
        with self._lock:
            current = self._bodies.get(key)
            if current is not None:
                known = str(current["metadata"].get("resourceVersion", ""))
                if version == known or not _newer(version, known):
                    return False
            self._bodies[key] = _slim(body)
        return True

    def delete(self, namespace: str, name: str) -> None:
        with self._lock:
            self._bodies.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> Body | None:
        with self._lock:
            return self._bodies.get((namespace, name))

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._bodies)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bodies)


def observed_deployment(body: Body) -> ObservedDeployment | None:
    meta = body["metadata"]
    revision = (meta.get("labels") or {}).get(names.LABEL_REVISION)
    if not revision:
        return None
    status = body.get("status") or {}
    return ObservedDeployment(
        name=meta["name"],
        revision=revision,
        replicas=int((body.get("spec") or {}).get("replicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        available_replicas=int(status.get("availableReplicas", 0)),
        uid=meta.get("uid", ""),
        pods=int(status.get("replicas", 0)),
    )


@dataclass(frozen=True)
class CachedChild:
    owner: str
    shape: ChildShape
    deployment: ObservedDeployment | None
    deleting: bool
    controller: str | None = None
    """The uid its controller ownerReference names: labels can be copied, this cannot."""


def cached_child(kind: str, body: Body) -> CachedChild | None:
    meta = body["metadata"]
    owner = (meta.get("labels") or {}).get(names.LABEL_NAME)
    if not owner:
        return None
    return CachedChild(
        owner=owner,
        shape=shape_of(body, kind),
        deployment=observed_deployment(body) if kind == DEPLOYMENT else None,
        deleting=bool(meta.get("deletionTimestamp")),
        controller=controller_uid(body),
    )


class ChildStore:
    """Deployments, Services and autoscalers labelled as ours, indexed by the ModelDeployment
    they serve."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str, str], tuple[str, CachedChild]] = {}
        self._by_owner: dict[Key, set[tuple[str, str]]] = {}

    def upsert(self, kind: str, body: Body) -> Key | None:
        """Takes in a child; returns its owner's key when what a reconcile sees of it changed."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        child = cached_child(kind, body)
        if child is None:
            return self.delete(kind, namespace, name)
        version = str(meta.get("resourceVersion", ""))
        slot = (kind, namespace, name)
        with self._lock:
            current = self._children.get(slot)
            if current is not None and not _newer(version, current[0]):
                return None
            self._children[slot] = (version, child)
            if current is not None and current[1].owner != child.owner:
                self._unindex(namespace, current[1].owner, kind, name)
            self._by_owner.setdefault((namespace, child.owner), set()).add((kind, name))
        if current is not None and current[1] == child:
            return None
        return (namespace, child.owner)

    def delete(self, kind: str, namespace: str, name: str) -> Key | None:
        with self._lock:
            current = self._children.pop((kind, namespace, name), None)
            if current is None:
                return None
            self._unindex(namespace, current[1].owner, kind, name)
        return (namespace, current[1].owner)

    def replace(self, kind: str, bodies: list[Body], namespace: str | None = None) -> set[Key]:
        """Takes in a full listing of `kind` (in `namespace`, or in all): what it lacks is gone.
        Returns the owners whose children changed."""
        changed: set[Key] = set()
        listed: set[tuple[str, str]] = set()
        for body in bodies:
            listed.add((body["metadata"]["namespace"], body["metadata"]["name"]))
            owner = self.upsert(kind, body)
            if owner is not None:
                changed.add(owner)
        with self._lock:
            gone = [
                slot
                for slot in self._children
                if slot[0] == kind
                and namespace in (None, slot[1])
                and (slot[1], slot[2]) not in listed
            ]
        for _, namespace, name in gone:
            owner = self.delete(kind, namespace, name)
            if owner is not None:
                changed.add(owner)
        return changed

    def _unindex(self, namespace: str, owner: str, kind: str, name: str) -> None:
        members = self._by_owner.get((namespace, owner))
        if members is not None:
            members.discard((kind, name))
            if not members:
                del self._by_owner[(namespace, owner)]

    def shape(self, kind: str, namespace: str, name: str) -> ChildShape | None:
        with self._lock:
            found = self._children.get((kind, namespace, name))
        return None if found is None or found[1].deleting else found[1].shape

    def controller(self, kind: str, namespace: str, name: str) -> tuple[bool, str | None]:
        """(whether the cache holds such a child, the uid of its controller)."""
        with self._lock:
            found = self._children.get((kind, namespace, name))
        return (False, None) if found is None else (True, found[1].controller)

    def observed(self, namespace: str, owner: str, owner_uid: str | None = None) -> Observed:
        """The Deployments labelled as `owner`'s; with `owner_uid`, only those it controls, so
        that another's Deployment wearing its labels is neither counted nor deleted."""
        with self._lock:
            members = list(self._by_owner.get((namespace, owner), ()))
            children = [self._children[(kind, namespace, name)][1] for kind, name in members]
        deployments = {
            child.deployment.revision: child.deployment
            for child in children
            if child.deployment is not None
            and not child.deleting
            and (owner_uid is None or child.controller == owner_uid)
        }
        return Observed(deployments=deployments)

    def __len__(self) -> int:
        with self._lock:
            return len(self._children)


class PolicyStore:
    """ClusterRolloutPolicies, read as the operator uses them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._policies: dict[str, Policy] = {}

    def upsert(self, body: Body) -> bool:
        """Takes in a policy; True when what reconciles see of it changed."""
        policy = read_policy(body)
        with self._lock:
            changed = self._policies.get(policy.name) != policy
            self._policies[policy.name] = policy
        return changed

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._policies.pop(name, None) is not None

    def replace(self, bodies: list[Body]) -> bool:
        changed = False
        for body in bodies:
            changed = self.upsert(body) or changed
        listed = {body["metadata"]["name"] for body in bodies}
        with self._lock:
            gone = [name for name in self._policies if name not in listed]
        for name in gone:
            changed = self.delete(name) or changed
        return changed

    def all(self) -> list[Policy]:
        with self._lock:
            return list(self._policies.values())


class NamespaceStore:
    """The labels of every namespace, which policies select by."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labels: dict[str, dict[str, str]] = {}

    def upsert(self, body: Body) -> str | None:
        """Takes in a namespace; its name when its labels changed."""
        meta = body["metadata"]
        labels = dict(meta.get("labels") or {})
        with self._lock:
            changed = self._labels.get(meta["name"]) != labels
            self._labels[meta["name"]] = labels
        return meta["name"] if changed else None

    def delete(self, name: str) -> str | None:
        with self._lock:
            return name if self._labels.pop(name, None) is not None else None

    def replace(self, bodies: list[Body]) -> set[str]:
        changed = {name for body in bodies if (name := self.upsert(body)) is not None}
        listed = {body["metadata"]["name"] for body in bodies}
        with self._lock:
            gone = [name for name in self._labels if name not in listed]
        changed.update(name for name in gone if self.delete(name) is not None)
        return changed

    def labels(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._labels.get(name) or {})
