"""The kopf layer: start the controller, and hand it every ModelDeployment watch event.

kopf's watch of ModelDeployments (its listing on start included) feeds the controller's
cache and work queue; the children are watched by the controller's own informers, and every
reconcile runs on the controller's workers, never in kopf's handlers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.runtime.leader import LeaderElector, holder_pod_dead
from modeldeploy.shell import config, metrics
from modeldeploy.shell.controller import Controller
from modeldeploy.shell.webhook import AdmissionServer

log = logging.getLogger("modeldeploy.shell.handlers")
_controller: Controller | None = None
_elector: LeaderElector | None = None
_webhook: AdmissionServer | None = None


def controller() -> Controller:
    global _controller
    if _controller is None:
        _controller = Controller(config.current())
    return _controller


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
    ours = config.current()
    settings.posting.enabled = False  # Events are written by the reconciler itself.
    settings.watching.server_timeout = ours.watch_timeout_s
    settings.watching.client_timeout = ours.watch_timeout_s + 30
    await asyncio.to_thread(controller().start_caches)
    if ours.webhook_port:
        # Every replica answers admission reviews, from caches that are warm by now.
        global _webhook
        _webhook = AdmissionServer(
            ours.webhook_port,
            ours.webhook_cert_dir,
            controller().policies.all,
            controller().admission_labels,
        )
        _webhook.start()
    if not ours.leader_elect:
        controller().start_workers()
        return
    global _elector
    _elector = LeaderElector(
        controller().kube.api_client,
        ours.lease_namespace,
        ours.lease_name,
        ours.identity,
        on_started_leading=_start_acting,
        on_stopped_leading=_stop_acting,
        holder_dead=_holder_dead,
        count_request=metrics.count_request,
    )
    _elector.start()


def _holder_dead(holder: str) -> bool:
    """Whether the Lease's holder, a replica in this namespace named after its pod, is
    reported dead by its kubelet; no on any doubt."""
    ours = config.current()
    try:
        pod = controller().kube.get_pod(ours.lease_namespace, holder, timeout_s=2.0)
    except Exception as error:  # no answer is no proof
        log.warning("could not read the leader's pod %s: %s", holder, error)
        return False
    return pod is not None and holder_pod_dead(pod)


def _start_acting() -> None:
    metrics.LEADER.set(1)
    controller().start_workers()


def _stop_acting() -> None:
    """The Lease was lost: another replica may act from now on, so this one must not act a
    moment longer. It exits; restarted, it stands by."""
    metrics.LEADER.set(0)
    log.error("leader Lease lost; exiting so that only the new leader acts")
    logging.shutdown()
    os._exit(1)


@kopf.on.cleanup()
async def stop(**_: Any) -> None:
    if _webhook is not None:
        _webhook.stop()
    if _elector is not None:
        _elector.stop()
    if _controller is not None:
        _controller.stop()


@kopf.on.probe(id="controller")
def controller_health(**_: Any) -> dict[str, object]:
    """Part of kopf's liveness endpoint: fails when a watch or a worker thread died."""
    return controller().health()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def model_deployment_event(event: kopf.RawEvent, **_: Any) -> None:
    body = event["object"]
    if body.get("kind", "ModelDeployment") == "ModelDeployment":
        controller().model_deployment_event(event["type"], dict(body))
