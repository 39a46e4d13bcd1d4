"""Where the checkout's own folders are: ``configs/`` (run and sweep YAMLs) and ``datasets/`` (dataset cards).

One owner for both locations and for how a config file name is looked up, so the run config, the sweep
config and the dataset cards agree. The folders sit at the repository root, next to the ``vlcat`` package,
and are read from there (vlcat is used from a checkout, installed editable); they are not package data.
Light on purpose (no torch): the config schema and a sweep plan import it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"
DATASETS_ENV = "VLCAT_DATASETS_DIR"
"""Environment variable that moves the dataset cards' folder (``datasets_dir``)."""


def datasets_dir() -> Path:
    """Where the cards live: the checkout's ``datasets/``, or ``VLCAT_DATASETS_DIR`` when set."""
    env = os.environ.get(DATASETS_ENV)
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "datasets"


def find_config_file(name: str, base: Path) -> Path | None:
    """A config file named in a config, a sweep or on the command line: relative to ``base`` (the folder of
    the file that names it, or the working directory) first, then to ``configs/``, then as given; None when
    none of them is a file (each caller words its own error)."""
    for cand in (base / name, CONFIG_DIR / name, Path(name)):
        if cand.is_file():
            return cand
    return None
