#!/usr/bin/env bash
# Install the project (editable) with extras into a venv: uv when it can, pip otherwise.
#
# Usage: bash tools/install_project.sh VENV EXTRAS        e.g. .venv '.[dev,tensorboard]'
#
# Why uv: the project venv is most of a fresh clone's setup (torch and its CUDA wheels, ~5 GB unpacked);
# uv downloads and unpacks them in parallel (`make quickstart` prints the time each setup step took). uv on PATH
# is used as is; otherwise it is pip-installed into the venv first (a few seconds). uv does not read pip's
# configuration (pip.conf indexes, find-links, constraints), so whenever uv fails the install is redone
# with pip, which does. VLCAT_NO_UV=1 skips uv.
set -euo pipefail
VENV="$1"
EXTRAS="$2"
PY="$VENV/bin/python"

if [ -z "${VLCAT_NO_UV:-}" ]; then
  UV="$(command -v uv || true)"
  if [ -z "$UV" ] && "$PY" -m pip install -q uv >/dev/null 2>&1; then
    UV="$VENV/bin/uv"
  fi
  if [ -n "$UV" ]; then
    if "$UV" pip install -q --python "$PY" -e "$EXTRAS"; then
      echo "install_project: installed $EXTRAS with uv"
      exit 0
    fi
    echo "install_project: uv failed; installing with pip instead" >&2
  fi
fi
"$PY" -m pip install -q -e "$EXTRAS"
echo "install_project: installed $EXTRAS with pip"
