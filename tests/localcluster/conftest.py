"""Fixtures the harness's own cluster tests share: an API handle, and a namespace of their own
under the restricted Pod Security level, deleted afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from kubernetes.client.exceptions import ApiException

from e2e.localcluster import LocalCluster
from tests.localcluster.cluster_helpers import Api, eventually


@pytest.fixture(scope="module")
def api(local_cluster: LocalCluster) -> Api:
    return Api(local_cluster.api_client())


@pytest.fixture
def ns(api: Api) -> Iterator[str]:
    name = f"lc-{uuid.uuid4().hex[:8]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    api.core.create_namespace(
        {"metadata": {"name": name, "labels": labels}}, _preload_content=False
    )

    def has_default_sa() -> bool:
        api.core.read_namespaced_service_account("default", name, _preload_content=False)
        return True

    eventually(has_default_sa, 30, "the default ServiceAccount")
    yield name
    with contextlib.suppress(ApiException):
        api.core.delete_namespace(name, _preload_content=False)
