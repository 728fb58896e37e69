"""The kopf layer: start the controller, hand it every ModelDeployment watch event, answer
admission reviews, and report health.

kopf's watch of ModelDeployments (its listing on start included) feeds the controller's
cache and work queue; every reconcile runs on the controller's workers, never in kopf's
handlers. The children, policies and namespaces are watched by the controller's own
list-watch (`runtime.listwatch`): after a watch expires, its re-list replaces the store, so an
object deleted while the watch was down leaves the cache; kopf's re-list only adds what it
finds, and a Deployment deleted in that gap would stay cached, and never be made again.

Admission runs on kopf's webhook server (aiohttp, TLS, one task per connection, so a client
that stalls holds only its own connection), in every replica, leader or not, from the same
caches the reconciles read; `serve_admission` registers it when the webhook is enabled.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf

from modeldeploy.api.policy import POLICY_PLURAL
from modeldeploy.api.spec import GROUP, PLURAL, VERSION
from modeldeploy.runtime.leader import LeaderElector, holder_pod_dead
from modeldeploy.shell import config, metrics
from modeldeploy.shell.admission import HTTP_UNPROCESSABLE, Verdict, judge
from modeldeploy.shell.controller import Controller

log = logging.getLogger("modeldeploy.shell.handlers")
_controller: Controller | None = None
_elector: LeaderElector | None = None
# The path of both webhooks in the chart's ValidatingWebhookConfiguration: kopf routes
# `/<handler id>` to the handler of that id for the object's resource.
WEBHOOK_ID = "validate"


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
        # kopf starts serving once the startup handlers are done: the caches are warm by then.
        settings.admission.server = kopf.WebhookServer(
            addr="0.0.0.0",
            port=ours.webhook_port,
            certfile=str(ours.webhook_cert_dir / "tls.crt"),
            pkeyfile=str(ours.webhook_cert_dir / "tls.key"),
        )
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
        timing=ours.lease_timing,
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


def serve_admission() -> None:
    """Registers the validating handlers; kopf refuses to run admission handlers without a
    server, so only a replica that serves the webhook has them."""
    kopf.on.validate(GROUP, VERSION, PLURAL, id=WEBHOOK_ID)(validate)
    kopf.on.validate(GROUP, VERSION, POLICY_PLURAL, id=WEBHOOK_ID)(validate)


def validate(
    *,
    body: kopf.Body,
    warnings: list[str],
    old: kopf.Body | None = None,
    operation: str | None = None,
    userinfo: kopf.UserInfo | None = None,
    **_: Any,
) -> None:
    obj = dict(body)
    kind = str(obj.get("kind", ""))
    verdict = judge(
        kind,
        operation,
        obj,
        dict(old) if old is not None else None,
        controller().policies.all,
        controller().admission_labels,
        config.current().default_serving_image,
        config.current().notification_targets,
        dict(userinfo) if userinfo is not None else None,
    )
    _record(kind, obj, verdict)
    if verdict.refusal is not None:
        raise kopf.AdmissionError(verdict.refusal, code=HTTP_UNPROCESSABLE)
    warnings.extend(verdict.warnings)


def _record(kind: str, obj: dict[str, Any], verdict: Verdict) -> None:
    metrics.ADMISSION_REVIEWS.labels(kind, str(verdict.allowed).lower()).inc()
    if verdict.refusal is not None:
        meta = obj.get("metadata") or {}
        log.info(
            "refused at admission: %s",
            verdict.refusal,
            extra={"namespace": meta.get("namespace"), "object": meta.get("name")},
        )
