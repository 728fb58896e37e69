#!/usr/bin/env bash
# Builds the Kubernetes binaries the local cluster runs, from the Go module proxy, into a
# cache outside the clone keyed by version, so that only the first run on a machine builds them.
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
#   kubelet, kube-proxy                                                (k8s.io/kubernetes)
#   etcd                                                               (go.etcd.io/etcd/server/v3)
# Prints the bin directory on its last line. Every binary is built from the published modules
# as they are.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
BIN_DIR="$CACHE_DIR/kubernetes-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)

have_all() {
  for b in "${K8S_COMPONENTS[@]}" etcd; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}
if have_all; then echo "$BIN_DIR"; exit 0; fi

# Two callers at once (make prepare beside a test run that needs a cluster) would write the
# same temporary files: the second waits for the first and then finds the binaries built.
mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/.build-binaries.lock"
flock 9
if have_all; then echo "$BIN_DIR"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build the Kubernetes binaries" >&2; exit 1; }
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
mkdir -p "$BIN_DIR"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at local folders; a build that
# depends on it must pin each of them to the published v0.<minor>.<patch> instead.
build_kubernetes() {
  local staging_version="v0.${K8S_VERSION#v1.}"
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  go mod init modeldeploy.local/k8s-build >/dev/null 2>&1
  go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local mod
  for mod in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod"); do
    go mod edit -replace "$mod=$mod@$staging_version"
  done
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local b
  for b in "${K8S_COMPONENTS[@]}"; do
    [[ -x "$BIN_DIR/$b" ]] && continue
    echo "building $b $K8S_VERSION" >&2
    go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
  done
}

# etcd's server module likewise points its sibling modules at local folders.
build_etcd() {
  [[ -x "$BIN_DIR/etcd" ]] && return 0
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  go mod init modeldeploy.local/etcd-build >/dev/null 2>&1
  go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  local mod
  for mod in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
    go mod edit -replace "$mod=$mod@$ETCD_VERSION"
  done
  echo "building etcd $ETCD_VERSION" >&2
  go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
}

build_etcd
build_kubernetes
echo "$BIN_DIR"
