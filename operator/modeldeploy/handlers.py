"""The kopf layer: every trigger ends in the same level-based reconcile of one object.

A ModelDeployment is reconciled when it changes, when one of its children changes or
disappears, and on a short timer, so that drift is repaired even if an event is missed.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import kopf

from modeldeploy import names
from modeldeploy.analysis.provider import PrometheusProvider
from modeldeploy.kube import Kube
from modeldeploy.reconciler import Reconciler
from modeldeploy.spec import GROUP, KIND, PLURAL, VERSION, parse_duration

RESYNC_INTERVAL_S = float(os.environ.get("MODELDEPLOY_RESYNC_SECONDS", "5"))
# While a rollout is active the timer reconciles every tick, so a due check runs within a
# second of its interval; otherwise only every RESYNC_INTERVAL_S.
TICK_S = 1.0

log = logging.getLogger("modeldeploy.handlers")
_reconciler: Reconciler | None = None
_reconciler_guard = threading.Lock()


def reconciler() -> Reconciler:
    """The one Reconciler: its per-object locks only serialize what goes through it, and kopf
    calls handlers from many threads at once, most of all right after a start."""
    global _reconciler
    with _reconciler_guard:
        if _reconciler is not None:
            return _reconciler
        url = os.environ.get("MODELDEPLOY_PROMETHEUS_URL")
        provider = PrometheusProvider(url) if url else None
        min_window = parse_duration(os.environ.get("MODELDEPLOY_MIN_CHECK_WINDOW", "1m"))
        _reconciler = Reconciler(Kube(), provider, min_window_s=min_window)
    return _reconciler


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.enabled = False  # Events are written by the reconciler itself.
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    settings.execution.max_workers = 8


@kopf.on.event(GROUP, VERSION, PLURAL)
def model_deployment_changed(type: str, name: str, namespace: str | None, **_: Any) -> None:
    assert namespace is not None  # ModelDeployments are namespaced
    if type == "DELETED":
        reconciler().forget(namespace, name)
        return
    reconciler().reconcile(namespace, name)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_S, sharp=True)
def resync(name: str, namespace: str | None, status: kopf.Status, **_: Any) -> None:
    assert namespace is not None
    active = bool(status.get("rollout"))
    if active or reconciler().seconds_since_reconcile(namespace, name) >= RESYNC_INTERVAL_S:
        reconciler().reconcile(namespace, name)


def _owner_name(body: kopf.Body) -> str | None:
    for ref in body.get("metadata", {}).get("ownerReferences", []):
        if ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(f"{GROUP}/"):
            return str(ref["name"])
    return None


_OWNED: dict[str, Any] = {names.LABEL_NAME: kopf.PRESENT, names.LABEL_MANAGED_BY: names.MANAGER}


@kopf.on.event("apps", "v1", "deployments", labels=_OWNED)
@kopf.on.event("", "v1", "services", labels=_OWNED)
def owned_object_changed(body: kopf.Body, namespace: str | None, **_: Any) -> None:
    owner = _owner_name(body)
    if owner is not None and namespace is not None:
        reconciler().reconcile(namespace, owner)
