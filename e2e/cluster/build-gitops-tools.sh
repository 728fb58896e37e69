#!/usr/bin/env bash
# Builds the programs that judge ModelDeployments as GitOps tools do (e2e/gitops: kstatus, the
# library Flux uses, and luahealth, Argo CD's Lua interpreter running a health script) into a
# cache outside the clone keyed by a hash of their sources. Prints the directory on the last line.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/../gitops" && pwd)"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
KEY="$(cd "$SRC" && cat go.mod go.sum cmd/*/main.go | sha256sum | cut -c1-16)"
OUT="$CACHE_DIR/gitops-tools-$KEY"

if [[ -x "$OUT/kstatus" && -x "$OUT/luahealth" ]]; then echo "$OUT"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build the GitOps tools" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "building kstatus and luahealth" >&2
(cd "$SRC" && GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0 \
  go build -trimpath -ldflags "-s -w" -o "$WORK/" ./cmd/...)
mkdir -p "$OUT"
mv "$WORK/kstatus" "$WORK/luahealth" "$OUT/"
echo "$OUT"
