"""The config schema and the sweep schema import without torch.

Reading or checking a config (``--help``, a sweep plan, a report) must not pay torch's seconds of import:
the learners' options live in :mod:`vlcat.learners.options`, apart from the learners. A fresh interpreter
is the only honest check, since this test session has long imported torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["vlcat.config", "vlcat.sweeps.schema"])
def test_schema_imports_without_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False", f"import {module} loaded torch"


def test_schema_without_torch_still_validates_learners():
    """The light schema has every learner's node; validating a config loads the learners on demand."""
    code = ("import sys\n"
            "from vlcat.config import load_config\n"
            "cfg = load_config(overrides=['learner.name=kgcoop', 'learner.kgcoop.weight=2'])\n"
            "print(cfg.learner.kgcoop.weight, 'torch' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300, check=True)
    assert out.stdout.split() == ["2.0", "True"]
