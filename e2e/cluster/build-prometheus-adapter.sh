#!/usr/bin/env bash
# Builds prometheus-adapter, which serves custom.metrics.k8s.io (the serving pods' requests per
# second and requests in flight an autoscaler's per-pod targets read) from Prometheus, from its
# Go module into a cache outside the clone keyed by version, so that only the first run on a
# machine builds it. Prints the binary's path on its last line.
set -euo pipefail

PROMETHEUS_ADAPTER_VERSION="${PROMETHEUS_ADAPTER_VERSION:-v0.12.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$HERE/build-go-binary.sh" prometheus-adapter \
  sigs.k8s.io/prometheus-adapter/cmd/adapter "$PROMETHEUS_ADAPTER_VERSION"
