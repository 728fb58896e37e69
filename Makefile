# modeldeploy — every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
UV_VERSION := 0.13.9
UV_HOME := $(HOME)/.cache/modeldeploy/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# uv uses the Python given, never one it would download.
export UV_PYTHON_DOWNLOADS := never
K8S_BIN = $(shell bash e2e/cluster/build-binaries.sh | tail -n 1)
# mypy's cache outlives a clone: it is checked against each file's contents, so a fresh clone
# re-checks only what differs from the last run on this machine.
MYPY_CACHE := $(HOME)/.cache/modeldeploy/mypy

.PHONY: install system-deps binaries helm chart-tools prometheus-tools images prepare lint unit integration e2e \
        cluster-tests own-cluster-tests checks test crds reference chart-readme demo \
        cluster-up cluster-down install-operator bench-serving bench-rollback bench-scale bench-strategies bench-faults \
        bench-gateway plugin-archive plugin-tests \
        e2e-kind clean

install: $(INSTALLED)

# The virtualenv is made and filled by uv (seconds, where pip takes most of a minute), itself
# installed once from PyPI into a cache outside the clone, keyed by its version.
$(INSTALLED): pyproject.toml constraints.txt serving-image/pyproject.toml | $(UV)
	rm -rf $(VENV)
	$(UV) venv -q --python $(PYTHON) $(VENV)
	$(UV) pip install -q --python $(PY) -c constraints.txt -e '.[dev]' -e './serving-image[dev]'
	touch $@

$(UV):
	rm -rf $(UV_HOME)
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install -q uv==$(UV_VERSION)

# Debian packages the local cluster runs: its node's container runtime and network (containerd,
# runc, the CNI plugins, iptables, conntrack, iproute2, nsenter from util-linux) and what builds
# its images (mmdebstrap, buildah, gcc and its static libc).
DEBIAN_PACKAGES := containerd runc containernetworking-plugins iptables conntrack iproute2 \
                   util-linux mmdebstrap buildah libc6-dev gcc
system-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# etcd and the Kubernetes binaries (control plane, kubelet, kube-proxy, kubectl), Prometheus,
# CoreDNS and Traefik, built once from their Go modules and cached under ~/.cache/modeldeploy.
binaries: install
	$(PY) -m e2e.localcluster.binaries

# The operator, serving, model-store, Prometheus, CoreDNS, Traefik and pause images, built with
# buildah on a Debian base made by mmdebstrap; cached, rebuilt only when what goes into them
# changes.
images: install system-deps binaries
	$(PY) -m e2e.localcluster.images

# Everything the local cluster runs and the tests use: the Go builds and the image builds side
# by side (the first run on a machine takes a while; later runs only check the caches).
prepare: install system-deps
	$(PY) -m e2e.localcluster.prepare

# helm, built once from its Go module and cached.
helm:
	bash e2e/cluster/build-helm.sh

# What the chart's tests render and validate it with, built or made once and cached: helm,
# kubeconform, and the schemas kubeconform reads (Kubernetes' own, from the OpenAPI spec of the
# version the local cluster runs, and the CRDs').
chart-tools: install
	bash e2e/cluster/build-helm.sh >/dev/null
	bash e2e/cluster/build-kubeconform.sh >/dev/null
	$(PY) -m e2e.kube_schemas >/dev/null

# Prometheus and promtool for the unit tests that run them on this machine: built once from the
# module and version the cluster's Prometheus comes from, cached beside it. The last line of
# the output is a PATH fragment holding both.
prometheus-tools: install
	$(PY) -m e2e.prometheus_tools

lint: install
	$(VENV)/bin/ruff check operator serving-image tests e2e bench plugin
	$(VENV)/bin/ruff format --check operator serving-image tests e2e bench plugin
	$(VENV)/bin/mypy --cache-dir $(MYPY_CACHE) operator/modeldeploy serving-image/modeldeploy_serving e2e bench plugin tests/fakeapi
	$(VENV)/bin/lint-imports --no-cache

unit: install prometheus-tools chart-tools
	tools="$$($(PY) -m e2e.prometheus_tools | tail -n 1)" && \
	  PATH="$$tools:$$PATH" $(PY) -m pytest -q -p xdist --numprocesses=2 --durations=10 tests/unit \
	  serving-image/tests tests/localcluster -m "not cluster"

integration: prepare
	$(PY) -m pytest -q tests/localcluster -m cluster
	$(PY) -m pytest -q tests/integration

e2e: prepare
	$(PY) -m pytest -q e2e/scenarios

# The harness's own tests, the integration tests and the scenarios share one cluster and one
# operator install: three side by side, then those that kill the operator's replicas side by
# side, then the disruptive ones (faults of the control plane, node, Prometheus or operator)
# alone (e2e/suite.py).
cluster-tests: prepare
	$(PY) -m e2e.suite --workers 3
	$(MAKE) --no-print-directory own-cluster-tests

# The tests of the local cluster's CLI, which start a cluster of their own.
own-cluster-tests: prepare
	$(PY) -m pytest -q tests/localcluster -m "cluster and own_cluster"

# The plugin as krew installs it: krew (built once and cached) validates the manifest of an
# archive built here and installs it, and the installed plugin runs, alone and as `kubectl
# modeldeploy` (tests/krew; kubectl is the cluster's, built once and cached).
plugin-tests: install
	$(PY) -m pytest -q --durations=5 tests/krew

# The checks that need no shared cluster, each timed.
CHECK_STAGES := lint unit own-cluster-tests plugin-tests
checks:
	@summary=""; status=0; \
	for stage in $(CHECK_STAGES); do \
	  start=$$(date +%s); \
	  $(MAKE) --no-print-directory $$stage || { echo "make $$stage failed"; status=1; }; \
	  summary="$$summary$$(printf '  %-8s %5d s' $$stage $$(( $$(date +%s) - start )))\n"; \
	done; \
	printf "stages:\n$$summary"; exit $$status

# Everything: the builds first (cached after the first run), then the cluster tests, with the
# lint and unit tests run beside their later passes, which mostly wait on the cluster. A skip
# not on tests/allowed_skips.txt fails the run (in every pytest session `make test` runs).
test: export MODELDEPLOY_STRICT_SKIPS := 1
test: install prometheus-tools chart-tools prepare
	@start=$$(date +%s); \
	$(PY) -m e2e.suite --workers 3 --beside "$(MAKE) --no-print-directory checks"; status=$$?; \
	echo "make test took $$(( $$(date +%s) - start )) s after the builds (exit $$status)"; \
	exit $$status

# The CRDs from the API's models (descriptions included: kubectl explain), the chart's copy of
# them, and the API reference generated from the same models.
crds: install
	$(PY) -m modeldeploy.tools.crdgen crds
	cp crds/*.yaml charts/modeldeploy/files/crds/
	$(PY) -m modeldeploy.tools.refdoc docs/reference.md

reference: install
	$(PY) -m modeldeploy.tools.refdoc docs/reference.md

# The chart's README, from its values.yaml comments and values.schema.json.
chart-readme: install
	$(PY) -m modeldeploy.tools.chartdoc charts/modeldeploy

cluster-up: install system-deps
	$(PY) -m e2e.localcluster.prepare --without-test-tools
	@$(PY) -m e2e.localcluster up

# The Helm chart into the cluster `make cluster-up` started: release modeldeploy in
# modeldeploy-system, two replicas electing a leader.
install-operator: install helm
	$(PY) -m e2e.operator_install --kubeconfig .cluster/kubeconfig

cluster-down: install
	@$(PY) -m e2e.localcluster down

demo: install system-deps
	$(PY) -m e2e.localcluster.prepare --without-test-tools
	$(PY) -m e2e.demo

# The kubectl plugin for krew: one executable built by PyInstaller, packed into
# dist/kubectl-modeldeploy_<version>_linux_amd64.tar.gz, and dist/modeldeploy.yaml, the krew
# manifest naming the archive's sha256 and its download address (PLUGIN_BASE_URL, the folder
# it is published in; default the GitHub release of the version).
plugin-archive: install
	$(PY) -m plugin.krew $(if $(PLUGIN_BASE_URL),--base-url $(PLUGIN_BASE_URL))

bench-serving: install
	$(PY) bench/serving/run.py

bench-rollback: prepare
	$(PY) bench/rollback/run.py

bench-scale: prepare
	$(PY) bench/scale/run.py

bench-strategies: prepare
	$(PY) bench/strategies/run.py

bench-faults: prepare
	$(PY) bench/faults/run.py

bench-gateway: prepare
	$(PY) bench/gateway/run.py

# The same scenarios on a kind cluster, where Docker exists: the images built here loaded into
# it, the model store and Prometheus applied from the same manifests, the chart installed by
# the scenarios' fixtures as on the local cluster. The cluster is deleted afterwards.
KIND_CLUSTER ?= modeldeploy-e2e
KIND_STATE := $(CURDIR)/.cluster/kind
e2e-kind: prepare
	$(PY) -m e2e.kind up --name $(KIND_CLUSTER) --state-dir $(KIND_STATE) && \
	  MODELDEPLOY_E2E_KIND=$(KIND_STATE) $(PY) -m pytest -q e2e/scenarios; status=$$?; \
	  $(PY) -m e2e.kind down --name $(KIND_CLUSTER) --state-dir $(KIND_STATE); exit $$status

clean:
	rm -rf $(VENV) .cluster
