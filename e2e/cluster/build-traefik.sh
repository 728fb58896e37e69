#!/usr/bin/env bash
# Builds Traefik, the local cluster's Gateway API implementation, from its Go module into a
# cache outside the clone keyed by version, so that only the first run on a machine builds it.
# Prints the binary's path on its last line.
#   build-traefik.sh [VERSION]
#
# `go install github.com/traefik/traefik/v3/cmd/traefik@VERSION` refuses: Traefik's go.mod has
# replace directives. So the module's source is downloaded and built as the main module, where
# they apply, with three differences from Traefik's own build, each for something the module
# proxy does not serve:
#
# - github.com/traefik/traefik/dynamic/ext is replaced by a nested module of Traefik's tree
#   (pkg/config/dynamic/ext), which the published module zip leaves out as Go does with every
#   nested module. In Traefik's tree it is an extension point of two empty structs; the build
#   writes them.
# - github.com/abbot/go-http-auth (the basic and digest auth middlewares) is replaced by
#   Traefik's fork at a commit the proxy does not serve; the build takes the fork's commit
#   Traefik pinned before it, which has the same API.
# - the ACME DNS-01 challenge providers (lego's providers/dns, which pulls in the SDKs of every
#   DNS vendor, several of them not served) are left out: naming one fails with an error. The
#   cluster issues no certificates; the HTTP-01 and TLS-ALPN-01 challenges are untouched. It
#   also takes a third of the packages out of the build.
#
# The web UI's npm-built assets are not part of the module either; its embedded static folder
# holds only a placeholder, so the dashboard (not enabled here) would be empty.
set -euo pipefail

TRAEFIK_VERSION="${1:-v3.7.13}"
MODULE="github.com/traefik/traefik/v3"
HTTP_AUTH_FORK="github.com/containous/go-http-auth@v0.4.1-0.20200324110947-a37a7636d23e"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
BIN="$CACHE_DIR/traefik-$TRAEFIK_VERSION/traefik"

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is required to build traefik" >&2; exit 1; }
mkdir -p "$(dirname "$BIN")"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/fetch"
(cd "$WORK/fetch" && go mod init modeldeploy.local/traefik-fetch >/dev/null 2>&1)
SOURCE="$(cd "$WORK/fetch" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$TRAEFIK_VERSION" |
  sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[[ -d "$SOURCE" ]] || { echo "go mod download $MODULE@$TRAEFIK_VERSION failed" >&2; exit 1; }
# The module cache is read-only.
cp -R "$SOURCE" "$WORK/src"
chmod -R u+w "$WORK/src"
cd "$WORK/src"

EXT=pkg/config/dynamic/ext
if [[ ! -f "$EXT/go.mod" ]]; then
  mkdir -p "$EXT"
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.24.0\n' >"$EXT/go.mod"
  cat >"$EXT/ext.go" <<'EOF'
package ext

// HTTP is a dynamic.HTTP extension.
type HTTP struct{}

// Router is a dynamic.Router extension.
type Router struct{}
EOF
fi

go mod edit -replace "github.com/abbot/go-http-auth=$HTTP_AUTH_FORK"
GOFLAGS=-mod=mod go mod download "$HTTP_AUTH_FORK"

ACME=pkg/provider/acme
grep -q '"github.com/go-acme/lego/v5/providers/dns"' "$ACME/provider.go" ||
  { echo "$ACME/provider.go no longer imports lego's DNS providers; revisit this script" >&2; exit 1; }
sed -i 's#"github.com/go-acme/lego/v5/providers/dns"#dns "'"$MODULE/$ACME"'/nodnsproviders"#' \
  "$ACME/provider.go"
mkdir -p "$ACME/nodnsproviders"
cat >"$ACME/nodnsproviders/nodnsproviders.go" <<'EOF'
// Package nodnsproviders stands in for lego's DNS-01 providers in a build without them.
package nodnsproviders

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
)

// NewDNSChallengeProviderByName fails: no DNS provider is part of this build.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("the ACME DNS challenge provider %q is not part of this build", name)
}
EOF

ldflags="-s -w -X $MODULE/pkg/version.Version=$TRAEFIK_VERSION"
ldflags+=" -X $MODULE/pkg/version.BuildDate=1970-01-01T00:00:00Z"
echo "building traefik $TRAEFIK_VERSION" >&2
# A name of its own: two builds at once must not write one file.
GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0 \
  go build -trimpath -ldflags "$ldflags" -o "$BIN.tmp.$$" ./cmd/traefik
mv "$BIN.tmp.$$" "$BIN"
echo "$BIN"
