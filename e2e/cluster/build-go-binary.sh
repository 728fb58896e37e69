#!/usr/bin/env bash
# Builds one program from its Go module into a cache outside the clone keyed by name and
# version, so that only the first run on a machine builds it. Prints its path on the last line.
#   build-go-binary.sh NAME PACKAGE VERSION [PACKAGE...]
# e.g. build-go-binary.sh prometheus github.com/prometheus/prometheus/cmd/prometheus v0.316.0
# Further packages, of the same module and version, are built beside it in the same folder.
# The build is static (CGO off): the binary runs alone in an image built FROM scratch.
set -euo pipefail

NAME="$1" PACKAGE="$2" VERSION="$3"
shift 3
BESIDE=("$@")
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
DIR="$CACHE_DIR/$NAME-$VERSION"
BIN="$DIR/$NAME"

built() {
  [[ -x "$BIN" ]] || return 1
  local package
  for package in "${BESIDE[@]}"; do [[ -x "$DIR/$(basename "$package")" ]] || return 1; done
}
if built; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build $NAME" >&2; exit 1; }
mkdir -p "$DIR"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

echo "building $NAME $VERSION" >&2
GOBIN="$WORK/bin" GOFLAGS="-buildvcs=false" CGO_ENABLED=0 \
  go install -trimpath -ldflags "-s -w" "$PACKAGE@$VERSION" "${BESIDE[@]/%/@$VERSION}"
for package in "${BESIDE[@]}"; do mv "$WORK/bin/$(basename "$package")" "$DIR/"; done
mv "$WORK/bin/$(basename "$PACKAGE")" "$BIN"
echo "$BIN"
