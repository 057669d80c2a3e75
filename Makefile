# airpy — every workflow is a target here; `make help` lists them.
# `make run` and `make test` set everything up themselves on a fresh machine
# (Python 3.11 and Go are the only prerequisites).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPCURL_VERSION := v1.9.4
GRPC_HEALTH_PROBE_VERSION := v0.4.62

# Test processes: most tests wait on real servers and workers, so four share two cores well
# (measured: pytest 8 min 5 s with four, 8 min 44 s with three, on 2 cores).
PYTEST_WORKERS ?= 4

TOOLS := $(CURDIR)/.tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/uv/bin/uv)
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
GO_PLUGINS := $(TOOLS)/bin/protoc-gen-go $(TOOLS)/bin/protoc-gen-go-grpc

export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup run test check lint fmt typecheck proto proto-lint proto-baseline go-test pytest fuzz faults reliability-report load bench clean tools

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(TOOLS)/uv/bin/uv:
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	touch $@

setup: $(VENV)/.synced ## create .venv from uv.lock

$(TOOLS)/bin/protoc-gen-go:
	GOBIN=$(TOOLS)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/bin/protoc-gen-go-grpc:
	GOBIN=$(TOOLS)/bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/bin/grpcurl:
	GOBIN=$(TOOLS)/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(TOOLS)/bin/grpc_health_probe:
	GOBIN=$(TOOLS)/bin go install github.com/grpc-ecosystem/grpc-health-probe@$(GRPC_HEALTH_PROBE_VERSION)
	mv $(TOOLS)/bin/grpc-health-probe $@

tools: $(GO_PLUGINS) $(TOOLS)/bin/grpcurl $(TOOLS)/bin/grpc_health_probe ## install the pinned Go tools into .tools/bin

run: setup $(TOOLS)/bin/grpcurl $(TOOLS)/bin/grpc_health_probe ## start airpy (embedded Redis + workers) on PY_LISTEN, with a sample dataset
	$(VENV)/bin/airpy sample
	@echo "grpcurl and grpc_health_probe are in .tools/bin (export PATH=\"$$PWD/.tools/bin:\$$PATH\")"
	exec $(VENV)/bin/airpy serve

proto: setup $(GO_PLUGINS) ## regenerate generated/python and generated/go from proto/
	$(PY) proto/generate.py --out generated --plugins $(TOOLS)/bin

proto-lint: setup ## buf lint, and buf breaking against the committed contract baseline (proto/baseline.binpb)
	cd proto && $(VENV)/bin/buf lint
	cd proto && $(VENV)/bin/buf breaking --against baseline.binpb

proto-baseline: setup ## renew proto/baseline.binpb: only when a release deliberately changes the contract
	cd proto && $(VENV)/bin/buf build -o baseline.binpb

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: setup ## format and auto-fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: setup ## mypy --strict on airpy/
	$(VENV)/bin/mypy

pytest: setup tools ## the Python test suite
	PATH="$(TOOLS)/bin:$$PATH" $(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

go-test: setup tools ## the Go client tests and the README's Go example (examples/go/query), against a real server
	cd examples/go/query && go vet ./...
	cd tests/go && AIRPY_BIN=$(VENV)/bin/airpy go test -count=1 ./...

test: lint typecheck proto-lint pytest go-test ## everything: lint, types, buf lint, pytest, Go test

check: test ## what CI runs

fuzz: setup tools ## a longer, freshly random run of the hypothesis request fuzzer (FUZZ_EXAMPLES=500)
	AIRPY_FUZZ_RANDOM=1 AIRPY_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} PATH="$(TOOLS)/bin:$$PATH" $(VENV)/bin/pytest -q tests/e2e/test_fuzz.py

faults: setup ## the fault cases kept out of `make test` for time (tests/faults -m long_fault; CI runs them)
	AIRPY_LONG_FAULTS=1 PATH="$(TOOLS)/bin:$$PATH" $(VENV)/bin/pytest -q -m long_fault tests/faults

reliability-report: setup tools ## run the reliability and security cases and write docs/reliability.md from their outcomes
	PATH="$(TOOLS)/bin:$$PATH" $(PY) -m tests.faults.report

load: setup tools ## load test (loopback, stops by itself): 200 WatchJob streams, submissions, GetJob polls, 4 large FetchResult streams for 30 s; writes load/results/latest.json (LOAD_ARGS="-duration 60s …")
	cd load && AIRPY_BIN=$(VENV)/bin/airpy go run . $(LOAD_ARGS)

bench: setup ## benchmarks with ratios against anchors measured in the same run (a few minutes)
	$(UV) sync --frozen --quiet --group bench
	$(PY) -m benchmarks $(BENCH_ARGS)

clean: ## remove the venv, tools and local state
	rm -rf $(VENV) $(TOOLS) .airpy .pytest_cache .mypy_cache .ruff_cache
