"""What the operator read from the cluster, reduced to the facts its decisions need."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObservedDeployment:
    name: str
    revision: str
    replicas: int
    ready_replicas: int
    available_replicas: int
    uid: str = ""


@dataclass(frozen=True)
class Observed:
    deployments: dict[str, ObservedDeployment] = field(default_factory=dict)

    def ready(self, revision: str | None) -> int:
        if revision is None or revision not in self.deployments:
            return 0
        return self.deployments[revision].ready_replicas
