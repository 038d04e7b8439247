# One command to get going (`make lab`), one to test (`make test`). See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Test runs are headless (failed checks raise) and use a workspace of their own, never the learner's.
TEST_ENV := LABKIT_HEADLESS=1 LABKIT_WORKSPACE=$(CURDIR)/.test-workspace

.PHONY: help setup lab doctor test test-unit test-board test-labs test-site test-cluster site serve offline-images bench clean-labs \
        cluster cluster-down cluster-repair cluster-images

help:
	@echo "make lab             set everything up and open the labs in JupyterLab"
	@echo "make test            unit tests, every lab (solved, unsolved, twice), cleanup, site build"
	@echo "make offline-images  build the course's images locally (no registry needed; root: debootstrap)"
	@echo "make cluster         create (or reuse) the course's kind cluster with its add-ons (labs 05-11)"
	@echo "make cluster-down    delete it"
	@echo "make cluster-repair  a cluster that stopped working (e.g. after a Docker restart): check, recreate if needed"
	@echo "make cluster-images  offline: build kind's node image from Go sources and Debian packages"
	@echo "make doctor          is this machine ready?     make bench   print timings"
	@echo "make site / serve    build / preview the course website"
	@echo "make clean-labs      remove everything the labs created (labelled resources only)"

$(BIN)/labkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[lab,dev,board]'
	@touch $@

setup: $(BIN)/labkit
	$(BIN)/labkit wheels
	$(BIN)/labkit learner
	-$(BIN)/labkit tools

doctor: $(BIN)/labkit
	$(BIN)/labkit doctor

lab: setup
	-$(BIN)/labkit doctor
	$(BIN)/jupyter lab --notebook-dir=workspace

offline-images: $(BIN)/labkit
	$(BIN)/labkit images build

test-unit: $(BIN)/labkit
	$(BIN)/pytest tests/unit

cluster: setup
	$(BIN)/labkit cluster up

cluster-down: $(BIN)/labkit
	$(BIN)/labkit cluster down

cluster-repair: setup
	$(BIN)/labkit cluster repair

# Offline (CI, classrooms without a registry): everything from the Go module proxy and Debian.
# EXPORT=dir also writes the node image as an archive to hand out.
cluster-images: $(BIN)/labkit
	$(BIN)/labkit cluster build $(if $(EXPORT),--export $(EXPORT))

# Lab by lab: learner version, solved run keeping its state, nbval's full run over it, nothing left
# (tests/lab_order.py). Each lab, and the cluster's own tests, is a unit of work (one pytest process);
# two run at once, the next starting as one ends: the Docker labs while the course cluster is created,
# then the units whose add-ons are built (one waiting for a build holds no worker while another runs:
# the cluster's metrics-server test is a unit of its own); labs publishing the same host port never
# together, the Docker restart last, by itself (tests/run_labs.py). SESSIONS=1: one after another
# (docs/instructors.md); SESSIONS=3 overloads 2 cores. LABS=01,05: those labs only.
SESSIONS ?= 2
LABS ?=
test-labs: setup
	$(TEST_ENV) $(BIN)/python tests/run_labs.py --sessions $(SESSIONS) $(if $(LABS),--only $(LABS))
	$(BIN)/labkit leftovers

site: $(BIN)/labkit
	$(BIN)/mkdocs build --strict

serve: $(BIN)/labkit
	$(BIN)/mkdocs serve

# The cluster's tests by themselves (make test runs them within test-labs).
test-cluster: cluster
	$(TEST_ENV) $(BIN)/pytest tests/cluster

# The class board: its API, a learner's queue, a load test, a kill mid-load, the page in headless Chromium,
# on SQLite and on PostgreSQL (the offline postgres image).
test-board: $(BIN)/labkit
	$(TEST_ENV) $(BIN)/pytest tests/board

# The built site in headless Chromium: every page, its diagrams, search, solutions and answers on a click, links;
# screenshots in build/screenshots/site/. Labs a test run executed appear with their outputs (build/executed/).
test-site: site
	$(BIN)/pytest tests/site

test: test-unit test-board test-labs test-site

bench: setup
	$(TEST_ENV) $(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean-labs: $(BIN)/labkit
	$(BIN)/labkit clean --all
