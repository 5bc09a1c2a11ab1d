# Jupyter Containers. `make run` runs the product, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE      ?= $(HOME)/.cache/jupyter-containers
export JC_BIN ?= $(CACHE)/bin
VENV       ?= $(CACHE)/venv
PY         := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(JC_BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# The venv lives outside the repo and is shared by checkouts; the package is installed
# editable, so the stamp names the checkout it points at (another clone reinstalls).
STAMP := $(VENV)/.installed-$(shell printf '%s' '$(CURDIR)' | sha256sum | cut -c1-12)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

.PHONY: venv
venv: $(STAMP) ## create the Python virtualenv (outside the repo) and install the project

.PHONY: tools
tools: ## build etcd, kube-*, kubectl, kwok, kwokctl from the Go module proxy (cached)
	tools/build.sh

.PHONY: cluster-up
cluster-up: tools ## start (or reuse) the local kwok control plane; context kwok-jupyter-containers
	tools/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop and delete the local control plane
	tools/cluster.sh down

.PHONY: cluster-status
cluster-status: ## components, nodes and paths of the local control plane
	tools/cluster.sh status

.PHONY: profilers
profilers: venv ## py-spy and memray into the venv, for `jcbench run --profile` and JCBENCH_OPERATOR_WRAP
	$(PY) -m pip install --quiet -e '.[dev,profile]'

N ?= 100
.PHONY: bench
bench: venv tools ## benchmarks on a private kwok cluster (N=100; `make bench N=1000`); see bench/README.md
	PYTHONPATH=bench $(PY) -m jcbench run -n $(N)

# Full sizes of the fault and fuzz tests (tests/chaos); `make test` runs them reduced.
CHAOS_OPERATIONS ?= 200
CHAOS_KILL_PERCENT ?= 25
CHAOS_FUZZ_EXAMPLES ?= 300
CHAOS_LOAD ?= 20
CHAOS_MEMORY_CONTAINERS ?= 100
CHAOS_OUTAGE_SECONDS ?= 60
.PHONY: chaos
chaos: venv tools ## fault and fuzz tests at full size (CHAOS_OPERATIONS=200 CHAOS_FUZZ_EXAMPLES=300 ...)
	JC_CHAOS_OPERATIONS=$(CHAOS_OPERATIONS) JC_CHAOS_KILL_PERCENT=$(CHAOS_KILL_PERCENT) \
	  JC_CHAOS_FUZZ_EXAMPLES=$(CHAOS_FUZZ_EXAMPLES) JC_CHAOS_LOAD=$(CHAOS_LOAD) \
	  JC_CHAOS_MEMORY_CONTAINERS=$(CHAOS_MEMORY_CONTAINERS) JC_CHAOS_OUTAGE_SECONDS=$(CHAOS_OUTAGE_SECONDS) \
	  $(PY) -m pytest tests/chaos -m chaos -s -p no:logging --timeout=7200 $(PYTEST_ARGS)

.PHONY: crds
crds: venv ## regenerate crds/ and the chart's CRDs from the pydantic models
	$(PY) -m jupyter_containers.api.crdgen --write

.PHONY: lint
lint: venv ## ruff
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench

.PHONY: test-unit
test-unit: venv ## unit tests only (no cluster)
	$(PY) -m pytest -m 'not cluster' $(PYTEST_ARGS)

.PHONY: browser
browser: ## headless Chromium from Debian for the console's browser tests (tools/install-browser.sh)
	tools/install-browser.sh

.PHONY: test
test: venv tools browser ## every test: unit tests, then cluster tests on the local control plane (or KUBECONFIG)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: run
run: venv cluster-up ## local cluster + CRDs + operator + an example container reaching Active
	tools/run.sh

CONSOLE_PORT ?= 8080
.PHONY: console
console: venv cluster-up ## the web console on the local cluster, development sign-in, http://127.0.0.1:$(CONSOLE_PORT)
	KUBECONFIG=$$(tools/cluster.sh kubeconfig) JC_CONSOLE_KUBE_CONTEXT=kwok-jupyter-containers \
	  JC_CONSOLE_DEV_LOGIN=true JC_CONSOLE_HOST=127.0.0.1 \
	  JC_CONSOLE_PORT=$(CONSOLE_PORT) JC_CONSOLE_UPSTREAM=endpoints $(VENV)/bin/jupyter-containers-console

.PHONY: clean
clean: cluster-down ## stop the cluster (build caches are kept)
