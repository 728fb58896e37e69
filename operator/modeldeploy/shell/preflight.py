"""Runs the preflight: asks the new revision's pods for their model's metadata and sends them
the smoke test, then hands the verdict to the state machine. The judging is pure
(`analysis.schema`, `analysis.smoke`); this module only fetches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from modeldeploy.analysis.schema import schema_changes
from modeldeploy.analysis.smoke import (
    SMOKE_DEADLINE_S,
    SmokeAnswer,
    assess,
    infer_body,
    too_large,
    too_many_bytes,
    too_many_requests,
)
from modeldeploy.api import names
from modeldeploy.api.spec import ModelDeploymentSpec, SmokeRequest, SmokeTestSpec, parse_duration
from modeldeploy.api.status import RevisionStatus
from modeldeploy.rollout import ERROR, FAIL, PASS, Preflight, PreflightRecord
from modeldeploy.rollout.preflight import INCOMPATIBLE_SCHEMA, SMOKE_TEST_FAILED
from modeldeploy.shell.kube import Kube
from modeldeploy.shell.pod_http import Pod, PodHttp, PodUnreachable

log = logging.getLogger(__name__)

METADATA_TIMEOUT_S = 5.0
_SMOKE_REQUESTS = TypeAdapter(list[SmokeRequest])


class _Unanswered(Exception):
    """The pods could not be asked; the preflight is tried again."""


def run_preflight(
    kube: Kube,
    http: PodHttp,
    namespace: str,
    name: str,
    model_spec: ModelDeploymentSpec,
    candidate: str,
    stable: RevisionStatus | None,
) -> Preflight:
    """The preflight of revision `candidate` (shaped by `model_spec`) beside `stable`."""
    rollout = model_spec.rollout
    assert rollout is not None  # only a spec with a rollout section has a preflight
    port = model_spec.serving.port
    try:
        pods = _ready_pods(kube, namespace, name, candidate)
        candidate_metadata = _metadata(http, pods[0], port, model_spec.model.name)
        record = PreflightRecord()
        if stable is not None and rollout.schema_change == "Refuse":
            stable_pods = _ready_pods(kube, namespace, name, stable.revision)
            stable_model = stable.source.model.name if stable.source is not None else None
            stable_metadata = _metadata(
                http, stable_pods[0], port, stable_model or model_spec.model.name
            )
            changes = schema_changes(stable_metadata, candidate_metadata)
            record = replace(record, schema_changes=changes)
            if changes:
                return Preflight(
                    FAIL,
                    f"the model's inputs or outputs changed incompatibly from "
                    f"{stable.revision}: {'; '.join(changes)}",
                    cause=INCOMPATIBLE_SCHEMA,
                    record=record,
                )
        if rollout.smoke_test is None:
            return Preflight(PASS, "model schema compatible with the stable's", record=record)
        return _smoke_test(
            kube, http, namespace, pods, port, model_spec.model.name, rollout.smoke_test, record
        )
    except _Unanswered as unanswered:
        return Preflight(ERROR, str(unanswered))


def _ready_pods(kube: Kube, namespace: str, name: str, revision: str) -> list[Pod]:
    pods = kube.list_ready_pods(namespace, names.selector_labels(name, revision))
    if not pods:
        raise _Unanswered(f"no ready pod of revision {revision} to ask")
    return pods


def _metadata(http: PodHttp, pod: Pod, port: int, model: str) -> dict[str, Any]:
    try:
        code, body = http.request(pod, port, "GET", f"/v2/models/{model}", None, METADATA_TIMEOUT_S)
    except PodUnreachable as error:
        raise _Unanswered(f"no answer to GET /v2/models/{model}: {error}") from error
    if code != 200 or not isinstance(body, dict):
        raise _Unanswered(f"{pod.name}: GET /v2/models/{model} answered HTTP {code}")
    return body


def _smoke_test(
    kube: Kube,
    http: PodHttp,
    namespace: str,
    pods: list[Pod],
    port: int,
    model: str,
    smoke: SmokeTestSpec,
    record: PreflightRecord,
    clock: Callable[[], float] = time.monotonic,
) -> Preflight:
    try:
        requests = [*(smoke.requests or []), *_requests_from(kube, namespace, smoke)]
    except ValueError as error:
        return Preflight(FAIL, f"smoke test: {error}", cause=SMOKE_TEST_FAILED, record=record)
    timeout_s = parse_duration(smoke.timeout)
    deadline = clock() + SMOKE_DEADLINE_S
    answers = []
    # Round robin over the Ready pods, so that one bad pod among good ones is seen too.
    for index, request in enumerate(requests):
        pod = pods[index % len(pods)]
        left_s = deadline - clock()
        if left_s <= 0:
            # Unsent is unanswered: the smoke test fails rather than stretching on.
            answers.append(
                SmokeAnswer(
                    request.name,
                    pod.name,
                    None,
                    error=f"not sent: the smoke test's {SMOKE_DEADLINE_S:g}s in all had passed",
                )
            )
            continue
        try:
            code, body = http.request(
                pod,
                port,
                "POST",
                f"/v2/models/{model}/infer",
                infer_body(request),
                min(timeout_s, left_s),
            )
            answers.append(SmokeAnswer(request.name, pod.name, code, body))
        except PodUnreachable as error:
            answers.append(SmokeAnswer(request.name, pod.name, None, error=str(error)))
    outcome = assess(requests, answers, smoke.pass_ratio)
    record = replace(
        record,
        smoke_passed=outcome.passed,
        smoke_total=outcome.total,
        failures=[failure.to_status() for failure in outcome.failures[:5]] or None,
    )
    verdict = PASS if outcome.ok else FAIL
    log.info("smoke test %s: %s", verdict, outcome.summary(), extra={"namespace": namespace})
    return Preflight(
        verdict,
        f"smoke test: {outcome.summary()}",
        cause=None if outcome.ok else SMOKE_TEST_FAILED,
        record=record,
    )


def _requests_from(kube: Kube, namespace: str, smoke: SmokeTestSpec) -> list[SmokeRequest]:
    if smoke.requests_from is None:
        return []
    ref = smoke.requests_from.config_map_key_ref
    text = kube.get_config_map_value(namespace, ref.name, ref.key)
    if text is None:
        raise ValueError(f"ConfigMap {ref.name} has no key {ref.key}")
    source = f"ConfigMap {ref.name} key {ref.key}"
    excess = too_many_bytes(len(text.encode()), source)
    if excess is not None:
        raise ValueError(excess)
    try:
        loaded = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as error:
        raise ValueError(f"{source} is not YAML: {error}") from error
    # Counted before anything else reads them: a smoke test is a few seconds' work.
    if isinstance(loaded, list):
        excess = too_many_requests(len(smoke.requests or []), len(loaded), source)
        if excess is not None:
            raise ValueError(excess)
    excess = too_large(loaded, source)
    if excess is not None:
        raise ValueError(excess)
    try:
        return _SMOKE_REQUESTS.validate_python(loaded)
    except ValidationError as error:
        raise ValueError(
            f"ConfigMap {ref.name} key {ref.key} is not a list of smoke requests: {error}"
        ) from error
