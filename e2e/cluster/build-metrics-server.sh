#!/usr/bin/env bash
# Builds metrics-server, which serves metrics.k8s.io (the pods' CPU an autoscaler's cpu target
# reads) from the kubelets' resource metrics, from its Go module into a cache outside the clone
# keyed by version, so that only the first run on a machine builds it. Prints the binary's path
# on its last line.
set -euo pipefail

METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$HERE/build-go-binary.sh" metrics-server \
  sigs.k8s.io/metrics-server/cmd/metrics-server "$METRICS_SERVER_VERSION"
