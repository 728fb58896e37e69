#!/usr/bin/env bash
# Builds the Kubernetes binaries the local cluster runs, from the Go module proxy, into a
# cache outside the clone keyed by version, so that only the first run on a machine builds them.
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
#   kubelet, kube-proxy                                                (k8s.io/kubernetes)
#   etcd                                                               (go.etcd.io/etcd/server/v3)
# Prints the bin directory on its last line.
#
# One validation check is removed from k8s.io/kubernetes before building: EndpointSlices,
# Endpoints and the API server's own advertise address may then be loopback addresses
# (127.0.0.0/8). The local cluster runs every pod as local processes on its own 127.x.y.z
# address, and the stock check would keep the real EndpointSlice controller from publishing any
# of them. Nothing else differs.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_DIR="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
BIN_DIR="$CACHE_DIR/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
# Present beside kube-apiserver once it has been built with the loopback patch.
APISERVER_STAMP="$BIN_DIR/kube-apiserver.loopback-endpoints"

have_all() {
  for b in "${K8S_COMPONENTS[@]}" etcd; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
  [[ -f "$APISERVER_STAMP" ]]
}
if have_all; then echo "$BIN_DIR"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build the Kubernetes binaries" >&2; exit 1; }
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
mkdir -p "$BIN_DIR"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# A copy of the k8s.io/kubernetes module with the loopback check of ValidateEndpointIP removed.
patched_kubernetes_module() {
  local src="$1" dst="$WORK/kubernetes"
  cp -r "$src" "$dst"
  chmod -R u+w "$dst"
  local file="$dst/pkg/apis/core/validation/validation.go"
  local message='may not be in the loopback range'
  [[ "$(grep -c 'if ip.IsLoopback() {' "$file")" == 1 && "$(grep -c "$message" "$file")" == 1 ]] || {
    echo "the loopback check in $file is not where this script expects it" >&2
    exit 1
  }
  sed -i '/if ip.IsLoopback() {/,/^\t}$/d' "$file"
  ! grep -q "$message" "$file" || { echo "patching $file failed" >&2; exit 1; }
  echo "$dst"
}

# k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at local folders; a build that
# depends on it must pin each of them to the published v0.<minor>.<patch> instead.
build_kubernetes() {
  local staging_version="v0.${K8S_VERSION#v1.}"
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  go mod init modeldeploy.local/k8s-build >/dev/null 2>&1
  go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
  local gomod module_dir
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  module_dir="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
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
  # Every component is built from the patched copy: they then share one compilation of
  # k8s.io/kubernetes, and only kube-apiserver runs the changed check.
  local patched
  patched="$(patched_kubernetes_module "$module_dir")"
  go mod edit -replace "k8s.io/kubernetes=$patched"
  local b
  for b in "${K8S_COMPONENTS[@]}"; do
    [[ -x "$BIN_DIR/$b" && ( "$b" != kube-apiserver || -f "$APISERVER_STAMP" ) ]] && continue
    echo "building $b $K8S_VERSION" >&2
    go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
    if [[ "$b" == kube-apiserver ]]; then touch "$APISERVER_STAMP"; fi
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
