#!/usr/bin/env bash
# Builds krew, kubectl's plugin manager, and krew's own manifest validator from their Go module
# into a cache outside the clone keyed by version, so that only the first run on a machine
# builds them. Prints krew's path on its last line; validate-krew-manifest is beside it.
#
# No version is stamped into krew: a build without one never asks GitHub for a newer release,
# which a machine that reaches only the package registries could not answer.
set -euo pipefail

KREW_VERSION="${KREW_VERSION:-v0.4.3}"
exec bash "$(dirname "$0")/build-go-binary.sh" krew sigs.k8s.io/krew/cmd/krew "$KREW_VERSION" \
  sigs.k8s.io/krew/cmd/validate-krew-manifest
