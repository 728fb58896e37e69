"""The API server and the operator never disagree: specs generated valid, then mutated, are
sent to the real API server (a server-side dry run, strict field validation, through the CRD's
schema and the chart's admission webhook) and read by the operator as it reads every object;
both must say yes, or both no. Whatever the API server takes, the operator can act on.

With the admission webhook out of the way (as on a cluster that installed the chart without
it), the CRD's schema alone must take every spec the operator's models take; what the schema
takes and the models refuse (rules across fields that live in the models and the webhook) is
counted, and the operator answers those with a status message.

`MODELDEPLOY_FUZZ_CASES` sets how many (hypothesis prints the failing case and its seed).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from e2e.fixtures import GROUP, PLURAL, VERSION, Cluster
from modeldeploy.validation import InvalidSpec, load_spec

pytestmark = pytest.mark.cluster

CASES = int(os.environ.get("MODELDEPLOY_FUZZ_CASES", "1000"))
FUZZ_SETTINGS = settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

dns_label = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
label_value = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,10}[A-Za-z0-9])?", fullmatch=True)
duration = st.sampled_from(["0s", "250ms", "5s", "30s", "1m", "1m30s", "2h", "1.5m"])
quantity = st.sampled_from(["100m", "1", "2Gi", "512Mi", "0.5", 2, "1e3"])
weights = st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True).map(sorted)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


model = st.fixed_dictionaries(
    {
        "name": dns_label,
        "version": label_value,
        "uri": st.sampled_from(["file:///m.joblib", "s3://b/m.onnx", "https://h/m"]),
        "format": st.sampled_from(["sklearn", "onnx"]),
    },
    optional={"sha256": st.from_regex(r"[a-f0-9]{64}", fullmatch=True)},
)
serving = optional(
    image=st.sampled_from(["modeldeploy/serving:0.1.0", "r.example.com/s@sha256:" + "a" * 64]),
    port=st.integers(1, 65535),
    resources=optional(
        requests=st.dictionaries(st.sampled_from(["cpu", "memory"]), quantity, max_size=2),
        limits=st.dictionaries(st.sampled_from(["cpu", "memory"]), quantity, max_size=2),
    ),
    env=st.lists(
        st.fixed_dictionaries(
            {"name": st.from_regex(r"[A-LN-Z_][A-Z0-9_]{0,6}", fullmatch=True)},
            optional={"value": st.text(max_size=5)},
        ),
        max_size=3,
        unique_by=lambda e: e["name"],
    ),
    startupTimeout=duration,
)
check = st.fixed_dictionaries(
    {"name": dns_label},
    optional={
        "max": st.floats(-10, 10),
        "min": st.floats(-10, 10),
        "maxIncrease": st.floats(0, 5),
        "query": st.just('sum(rate(x{namespace="{{namespace}}"}[{{interval}}]))'),
    },
).filter(lambda c: any(k in c for k in ("max", "min", "maxIncrease")))
smoke_request = st.fixed_dictionaries(
    {
        "name": dns_label,
        "inputs": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["input-0", "x"]),
                    "shape": st.lists(st.integers(0, 4), min_size=1, max_size=3),
                    "datatype": st.sampled_from(["FP64", "INT64", "BYTES"]),
                    "data": st.lists(
                        st.one_of(st.integers(-5, 5), st.floats(-1, 1), st.text(max_size=3)),
                        min_size=1,
                        max_size=4,
                    ),
                }
            ),
            min_size=1,
            max_size=2,
        ),
        "expect": st.one_of(
            optional(output=st.just("label")).map(lambda e: {**e, "labels": ["1"]}),
            st.fixed_dictionaries(
                {"values": st.lists(st.floats(-1, 1), min_size=1, max_size=3)},
                optional={"tolerance": st.floats(0, 1)},
            ),
        ),
    }
)
smoke = st.one_of(
    st.fixed_dictionaries(
        {"requests": st.lists(smoke_request, min_size=1, max_size=2)},
        optional={"passRatio": st.floats(0.01, 1), "timeout": duration},
    ),
    st.just({"requestsFrom": {"configMapKeyRef": {"name": "golden", "key": "requests.yaml"}}}),
)
shadow = st.fixed_dictionaries(
    {"minAgreement": st.floats(0, 1)},
    optional={
        "percent": st.floats(0.5, 100),
        "duration": duration,
        "maxMeanAbsDiff": st.floats(0, 2),
        "maxErrorRate": st.floats(0, 1),
    },
)
rollout = optional(
    strategy=st.sampled_from(["canary", "blueGreen"]),
    blueGreen=optional(previewDuration=duration, approval=st.just("required")),
    shadow=shadow,
    smokeTest=smoke,
    schemaChange=st.sampled_from(["Refuse", "Allow"]),
    stepWeights=weights,
    interval=duration,
    failureLimit=st.integers(0, 100),
    inconclusiveLimit=st.integers(0, 100),
    minRequests=st.integers(0, 1000),
    progressDeadline=duration,
    scaleDownDelay=duration,
    rollbackWindow=duration,
    traffic=st.one_of(
        st.just({"router": "replicas"}),
        dns_label.map(lambda n: {"router": "gateway-api", "httpRoute": {"name": n}}),
    ),
    checks=st.lists(check, max_size=3),
).map(
    # blueGreen options go with strategy blueGreen; elsewhere they are a mutation's job.
    lambda r: {**r, "strategy": "blueGreen"} if "blueGreen" in r else r
)
valid_spec = st.fixed_dictionaries(
    {"model": model},
    optional={"replicas": st.integers(0, 1000), "serving": serving, "rollout": rollout},
)
odd_values = st.sampled_from(
    [None, -1, 0, 1, 101, 70000, 1.5, "", "x" * 70, "soon", "1m", True, [], {}, {"x": 1}, "5"]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutated(spec: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(spec))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if new is None and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = draw(valid_spec)
    for _ in range(draw(st.integers(0, 2))):
        where = paths(spec)
        if not where:
            break
        spec = mutated(spec, draw(st.sampled_from(where)), draw(odd_values))
    return spec


def operator_accepts(spec: dict[str, Any]) -> tuple[bool, str]:
    try:
        load_spec(spec)
    except InvalidSpec as error:
        return False, str(error).splitlines()[0]
    return True, ""


def api_accepts(cluster: Cluster, namespace: str, spec: dict[str, Any]) -> tuple[bool, str]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "fuzz"},
        "spec": spec,
    }
    try:
        cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, dry_run="All", field_validation="Strict"
        )
    except ApiException as error:
        if error.status in (400, 422):
            return False, json.loads(error.body).get("message", "")
        raise
    return True, ""


def test_the_api_server_and_the_operator_accept_the_same_specs(
    cluster: Cluster, operator: Any, namespace: str
) -> None:
    @FUZZ_SETTINGS
    @given(spec=specs())
    def agree(spec: dict[str, Any]) -> None:
        api, api_says = api_accepts(cluster, namespace, spec)
        ours, we_say = operator_accepts(spec)
        if api != ours:
            disagreeing.add(json.dumps(spec, sort_keys=True))
        else:
            seen[api] += 1
        assert api == ours, (
            f"API server {'accepts' if api else 'refuses'} ({api_says}); operator "
            f"{'accepts' if ours else 'refuses'} ({we_say}): {json.dumps(spec)}"
        )

    seen = {True: 0, False: 0}
    disagreeing: set[str] = set()
    report = os.environ.get("MODELDEPLOY_FUZZ_REPORT")
    try:
        agree()
    finally:
        if report:
            # Hypothesis stops at the first disagreement, after shrinking it: the specs counted
            # there are that one and its shrunk forms.
            Path(report).write_text(
                json.dumps(
                    {
                        "fuzz_spec_cases": seen[True] + seen[False] + len(disagreeing),
                        "fuzz_spec_accepted_by_both": seen[True],
                        "fuzz_spec_refused_by_both": seen[False],
                        "fuzz_spec_disagreements": len(disagreeing),
                    }
                )
            )
    # Both answers must be common, or the agreement says little.
    total = seen[True] + seen[False]
    assert min(seen.values()) >= total // 10, seen
    print(f"{total} specs: {seen[True]} accepted by both, {seen[False]} refused by both")


WEBHOOK = "modeldeployments.modeldeploy.io"


@pytest.fixture
def unadmitted(cluster: Cluster, operator: Any, namespace: str) -> Iterator[str]:
    """`namespace`, with the admission webhook told to leave it alone for the test's length."""
    api = client.AdmissionregistrationV1Api(cluster.api_client)
    config: Any = next(
        c
        for c in api.list_validating_webhook_configuration().items
        if any(w.name == WEBHOOK for w in c.webhooks or [])
    )
    index = next(i for i, w in enumerate(config.webhooks) if w.name == WEBHOOK)
    before = api.api_client.sanitize_for_serialization(config.webhooks[index].namespace_selector)
    path = f"/webhooks/{index}/namespaceSelector"
    leave_alone = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [namespace]}
        ]
    }
    api.patch_validating_webhook_configuration(
        config.metadata.name, [{"op": "add", "path": path, "value": leave_alone}]
    )
    try:
        yield namespace
    finally:
        with contextlib.suppress(ApiException):
            api.patch_validating_webhook_configuration(
                config.metadata.name, [{"op": "add", "path": path, "value": before or {}}]
            )


def test_the_crd_alone_takes_every_spec_the_operator_takes(
    cluster: Cluster, unadmitted: str
) -> None:
    @FUZZ_SETTINGS
    @given(spec=specs())
    def schema_no_stricter(spec: dict[str, Any]) -> None:
        api, api_says = api_accepts(cluster, unadmitted, spec)
        ours, we_say = operator_accepts(spec)
        seen[(api, ours)] = seen.get((api, ours), 0) + 1
        if api and not ours:
            only_the_models.append(we_say)
        assert api or not ours, f"the CRD refuses ({api_says}) what the operator takes: {spec}"

    seen: dict[tuple[bool, bool], int] = {}
    only_the_models: list[str] = []
    report = os.environ.get("MODELDEPLOY_FUZZ_CRD_REPORT")
    try:
        schema_no_stricter()
    finally:
        if report:
            Path(report).write_text(
                json.dumps(
                    {
                        "fuzz_crd_only_cases": sum(seen.values()),
                        "fuzz_crd_only_refused_by_the_crd_taken_by_the_operator": seen.get(
                            (False, True), 0
                        ),
                        "fuzz_crd_only_taken_by_the_crd_refused_by_the_operator": seen.get(
                            (True, False), 0
                        ),
                        "fuzz_crd_only_operator_reasons": sorted(
                            {reason[:200] for reason in only_the_models}
                        )[:10],
                    }
                )
            )
    print(f"CRD alone: {seen}")
