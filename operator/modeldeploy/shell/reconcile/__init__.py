"""The reconcile of one ModelDeployment, in four parts: read, decide (the pure core), record,
act."""

from modeldeploy.shell.reconcile.reconciler import Outcome, Reconciler

__all__ = ["Outcome", "Reconciler"]
