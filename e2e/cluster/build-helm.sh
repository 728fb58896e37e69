#!/usr/bin/env bash
# Builds helm from its Go module into a cache outside the clone keyed by version, so that only
# the first run on a machine builds it. Prints the binary's path on its last line.
#
# helm's default Kubernetes version comes from its build flags; without them it would assume
# a very old cluster. The flags below set the one the local cluster runs.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
K8S_VERSION="${K8S_VERSION:-v1.37.1}"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
BIN="$CACHE_DIR/helm-$HELM_VERSION/helm"

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build helm" >&2; exit 1; }
mkdir -p "$(dirname "$BIN")"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1"
ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1"
ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor"

echo "building helm $HELM_VERSION" >&2
GOBIN="$WORK/bin" GOFLAGS="-buildvcs=false" CGO_ENABLED=0 \
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv "$WORK/bin/helm" "$BIN"
echo "$BIN"
