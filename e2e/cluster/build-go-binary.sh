#!/usr/bin/env bash
# Builds one program from its Go module into a cache outside the clone keyed by name and
# version, so that only the first run on a machine builds it. Prints its path on the last line.
#   build-go-binary.sh NAME PACKAGE VERSION
# e.g. build-go-binary.sh prometheus github.com/prometheus/prometheus/cmd/prometheus v0.316.0
# The build is static (CGO off): the binary runs alone in an image built FROM scratch.
set -euo pipefail

NAME="$1" PACKAGE="$2" VERSION="$3"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
BIN="$CACHE_DIR/$NAME-$VERSION/$NAME"

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build $NAME" >&2; exit 1; }
mkdir -p "$(dirname "$BIN")"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

echo "building $NAME $VERSION" >&2
GOBIN="$WORK/bin" GOFLAGS="-buildvcs=false" CGO_ENABLED=0 \
  go install -trimpath -ldflags "-s -w" "$PACKAGE@$VERSION"
mv "$WORK/bin/$(basename "$PACKAGE")" "$BIN"
echo "$BIN"
