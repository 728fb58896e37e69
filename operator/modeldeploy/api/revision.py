"""A revision names everything that shapes the serving pods; a new one starts a rollout."""

from __future__ import annotations

import hashlib
import json

from modeldeploy.api.spec import ModelDeploymentSpec, revision_source

REVISION_LENGTH = 10


def compute_revision(name: str, model_spec: ModelDeploymentSpec) -> str:
    """A short, stable hash of the pod-shaping part of the spec.

    Replicas and the rollout policy are left out on purpose: scaling or retuning the ramp must
    not start a new rollout. The object's name is in: checks select series by revision, and two
    ModelDeployments serving the same model must never share one.
    """
    shaping = {"name": name, **revision_source(model_spec)}
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]
