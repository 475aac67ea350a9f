# sdd-harness — `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-real test-openspec lint bench bench-speed clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,local,postgres,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## a real change on the bundled example, with the embedded local models
	$(BIN)/sdd demo

test: $(STAMP)  ## fast unit + integration tests (fake models, fake HTTP server, real pytest in verify)
	$(BIN)/python -m pytest -q

test-openspec: $(STAMP)  ## golden tests against the real OpenSpec CLI (npm)
	$(BIN)/python -m pytest -q -m openspec

test-real: $(STAMP)  ## end to end on the real embedded llama.cpp model
	$(BIN)/python -m pytest -q -m real_model

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check graph nodes tests

bench: $(STAMP)  ## harness overhead, cost, context, parallel apply, resume, concurrency -> bench/results.md; local model speed -> bench/speed-local.md
	$(BIN)/python bench/run.py
	$(BIN)/python bench/speed_local.py --skip-if-missing

bench-speed: $(STAMP)  ## only the local model speed bench (speculation, prompt cache, parallel slots; ~30 min on 2 cores)
	$(BIN)/python bench/speed_local.py

eval-local: $(STAMP)  ## pipeline vs one-shot on examples/tasks with the embedded models -> bench/eval-local.md
	$(BIN)/python bench/eval_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
