"""What a release strategy is, and the one place that picks it for a spec."""

from __future__ import annotations

from typing import Protocol

from modeldeploy.api.commands import Commands
from modeldeploy.api.spec import ModelDeploymentSpec
from modeldeploy.rollout.bluegreen import BlueGreen
from modeldeploy.rollout.canary import Canary
from modeldeploy.rollout.replace import Replace
from modeldeploy.rollout.state import Analysis, Draft, Preflight


class Strategy(Protocol):
    def progress(
        self,
        draft: Draft,
        commands: Commands,
        analysis: Analysis | None,
        preflight_result: Preflight | None,
    ) -> None:
        """Takes a new revision one decision further on its way to stable: sizes both tracks,
        sets the weight, and promotes or rolls back when the time has come."""
        ...


def strategy_for(spec: ModelDeploymentSpec) -> Strategy:
    if spec.rollout is None:
        return Replace()
    if spec.rollout.strategy == "blueGreen":
        return BlueGreen(spec.rollout)
    return Canary(spec.rollout)
