"""The operator's engine: watch caches feed a work queue, workers reconcile, time wakes them.

A ModelDeployment is reconciled when it changes, when one of its children changes, when the
rollout state machine asked to look again (`Outcome.wake_at`), and, as a safety net against a
missed event, once per resync period from the cache. Nothing polls: an object at rest costs
no API request, and a due check waits only for a free worker.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from modeldeploy.analysis.providers import provider_for
from modeldeploy.runtime.workqueue import WorkQueue
from modeldeploy.shell import metrics
from modeldeploy.shell.config import Settings
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.notify.sender import Notifier
from modeldeploy.shell.pod_http import pod_http_for
from modeldeploy.shell.reconcile import Outcome, Reconciler
from modeldeploy.shell.stores import (
    AUTOSCALER,
    DEPLOYMENT,
    SERVICE,
    ChildStore,
    Key,
    ModelDeploymentStore,
    NamespaceStore,
    PolicyStore,
)
from modeldeploy.shell.watches import child_informer, namespace_informer, policy_informer

# The key in the serving admin Secret.
ADMIN_KEY = "key"
log = logging.getLogger("modeldeploy.shell.controller")

# Decisions taken in a row at one object without anything else happening; more means its status
# never settles (a field the API server does not keep, say), and looking again at once would spin.
MAX_AGAIN = 10

# Resyncs are spread over this share of the period either side, so that objects reconciled
# together (all of them, after a start) do not come due together again.
RESYNC_JITTER = 0.2


class Unhealthy(Exception):
    """A part of the controller stopped; the liveness probe fails so the pod is restarted."""


class Controller:
    def __init__(
        self,
        settings: Settings,
        kube: Kube | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.kube = kube or Kube()
        self.clock = clock
        self.models = ModelDeploymentStore()
        self.children = ChildStore()
        self.policies = PolicyStore()
        self.namespace_labels = NamespaceStore()
        self.queue: WorkQueue[Key] = WorkQueue()
        provider = provider_for(settings.prometheus_url)
        self.notifier = Notifier(self.kube.get_secret_value, targets=settings.notification_targets)
        self.reconciler = Reconciler(
            self.kube,
            provider,
            self.models,
            self.children,
            self.policies,
            self.namespace_labels,
            clock=clock,
            min_window_s=settings.min_check_window_s,
            notifier=self.notifier,
            operator_namespace=settings.lease_namespace,
            pod_http=pod_http_for(settings.pod_transport, self.kube.api_client),
            strict_status=settings.strict_status,
            default_serving_image=settings.default_serving_image,
            cluster_domain=settings.cluster_domain,
            conflict_retry_s=settings.conflict_retry_s,
            notification_targets=settings.notification_targets,
        )
        api, timeout = self.kube.api_client, settings.watch_timeout_s
        self.informers = [
            *(
                child_informer(api, kind, self.children, self.queue.add,
                               namespaces=settings.namespaces, watch_timeout_s=timeout)
                for kind in (DEPLOYMENT, SERVICE, AUTOSCALER)
            ),
            # Policies and namespace labels decide which rules apply: a reconcile before both
            # are listed could start a rollout that a policy forbids.
            policy_informer(api, self.policies, self.models, self.queue.add, timeout),
            namespace_informer(api, self.namespace_labels, self.models, self.queue.add, timeout),
        ]  # fmt: skip
        self._again: dict[Key, int] = {}
        self._workers = [
            threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
            for i in range(settings.workers)
        ]

    def start_caches(self) -> None:
        """Starts the child watches and waits for their first listing: a reconcile on a partial
        cache would take missing children for deleted ones."""
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            while not informer.synced.wait(10):
                log.info("waiting for the first listing of %ss", informer.kind)
        log.info("cached: %d children, %d policies", len(self.children), len(self.policies.all()))

    def start_workers(self) -> None:
        """From here on this process acts. Every object queued so far (all of them, after a
        start) is reconciled once."""
        # Every serving Deployment is rendered with the admin token's digest: known before the
        # first render, or each would be rendered anew once it is.
        self.reconciler.actor.admin_key = self._serving_admin_key()
        log.info("starting %d workers; %d objects queued", len(self._workers), self.queue.depth())
        for worker in self._workers:
            worker.start()

    def _serving_admin_key(self) -> bytes | None:
        """The key of the serving pods' admin tokens. Where the operator may not read or make
        its Secret (RBAC of another chart version), it runs without: the pods open no admin
        port, and a shadow phase copies nothing, which its checks then report."""
        namespace, name = self.settings.lease_namespace, self.settings.serving_admin_secret
        try:
            key = self.kube.secret_value_made_once(
                namespace, name, ADMIN_KEY, lambda: secrets.token_hex(32)
            )
        except ApiException as error:
            log.error(
                "no serving admin key: Secret %s/%s: HTTP %s %s; the serving pods open no admin "
                "port and shadow phases copy nothing",
                namespace,
                name,
                error.status,
                error.reason,
            )
            return None
        return key.encode()

    def health(self) -> dict[str, object]:
        """What the liveness probe reports; raises when a watch or a started worker died,
        since such a replica would stop acting without anyone noticing."""
        dead_watches = [informer.kind for informer in self.informers if not informer.alive()]
        started = [worker for worker in self._workers if worker.ident is not None]
        alive = sum(worker.is_alive() for worker in started)
        if dead_watches:
            raise Unhealthy(f"watches stopped: {', '.join(dead_watches)}")
        if alive < len(started):
            raise Unhealthy(f"{len(started) - alive} of {len(started)} workers stopped")
        return {
            "watches": {
                i.kind: "synced" if i.synced.is_set() else "listing" for i in self.informers
            },
            "workers": alive if started else "standby",
            "queued": self.queue.depth(),
            "objects": len(self.models),
        }

    def stop(self) -> None:
        self.queue.shut_down()
        self.notifier.stop()
        for informer in self.informers:
            informer.stop()

    def admission_labels(self, namespace: str) -> dict[str, str]:
        """A namespace's labels for an admission review: from the cache, or, for a namespace
        made moments ago that the watch has not brought yet, from the API server."""
        labels = self.namespace_labels.labels(namespace)
        if labels or not namespace:
            return labels
        return self.kube.get_namespace_labels(namespace) or {}

    def model_deployment_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.models.delete(*key)
            self._again.pop(key, None)
            self.queue.drop(key)
            self.reconciler.forget(*key)
        elif self.models.upsert(body):
            self.queue.add(key)
        metrics.OBJECTS.set(len(self.models))

    def _work(self) -> None:
        while True:
            key = self.queue.get()
            if key is None:
                return
            metrics.QUEUE_DEPTH.set(self.queue.depth())
            try:
                with metrics.RECONCILE_SECONDS.time():
                    outcome = self.reconciler.reconcile(*key)
            except ApiException as exc:
                # The API server refused a call (a namespace being deleted, a conflict, a
                # quota): its answer says all there is, no traceback needed.
                delay = self.queue.retry(key)
                log.warning(
                    "reconcile failed: the API server answered %s %s; again in %.1fs",
                    exc.status,
                    exc.reason,
                    delay,
                    extra={"namespace": key[0], "object": key[1], "body": str(exc.body)[:300]},
                )
                self.queue.done(key)
                continue
            except Exception:
                delay = self.queue.retry(key)
                log.exception(
                    "reconcile failed; again in %.1fs",
                    delay,
                    extra={"namespace": key[0], "object": key[1]},
                )
                self.queue.done(key)
                continue
            self.queue.done(key)
            self.queue.forget(key)
            self._schedule(key, outcome)

    def _schedule(self, key: Key, outcome: Outcome) -> None:
        if self.models.get(*key) is None:
            return
        if outcome.again:
            self._again[key] = self._again.get(key, 0) + 1
            if self._again[key] <= MAX_AGAIN:
                self.queue.add(key)
            elif self._again[key] == MAX_AGAIN + 1:
                log.error(
                    "status still changing after %d decisions in a row; not looking again at once",
                    MAX_AGAIN,
                    extra={"namespace": key[0], "object": key[1]},
                )
        else:
            self._again.pop(key, None)
        delay = self.settings.resync_s * random.uniform(1 - RESYNC_JITTER, 1 + RESYNC_JITTER)
        if outcome.wake_at is not None:
            delay = min(delay, max((outcome.wake_at - self.clock()).total_seconds(), 0.0))
        self.queue.add_after(key, delay)
