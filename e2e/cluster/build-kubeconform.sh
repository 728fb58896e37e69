#!/usr/bin/env bash
# Builds kubeconform, which validates manifests against JSON schemas, from its Go module into a
# cache outside the clone keyed by version, so that only the first run on a machine builds it.
# Prints the binary's path on its last line. Its schemas are made here too: python -m
# e2e.kube_schemas.
set -euo pipefail

KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
exec bash "$(dirname "$0")/build-go-binary.sh" \
  kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
