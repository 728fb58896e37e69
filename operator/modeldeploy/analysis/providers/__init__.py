"""Metrics providers: one module per backend behind the `MetricsProvider` interface.

A new backend is a module here and one line in `provider_for`.
"""

from modeldeploy.analysis.providers.base import MetricsProvider, ProviderError
from modeldeploy.analysis.providers.prometheus import PrometheusProvider


def provider_for(url: str | None) -> MetricsProvider | None:
    """The backend that answers the checks' queries; None when none is configured, which
    makes every check error rather than pass."""
    return PrometheusProvider(url) if url else None


__all__ = ["MetricsProvider", "PrometheusProvider", "ProviderError", "provider_for"]
