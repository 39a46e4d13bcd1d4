"""Atomic checkpoints of trainable state only (never the frozen CLIP), loaded with ``weights_only``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlcat.errors import RunError
from vlcat.rundir import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text", "load_checkpoint", "save_checkpoint"]


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy(), *n[2:]))
    torch.set_rng_state(state["torch"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`; anything else (empty, cut short, another file) is a
    one-line ``RunError`` that says what to do, never a pickle traceback."""
    hint = "delete it to start that run over (or use --overwrite)"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, empty file, foreign pickle: all one line
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise RunError(f"{path} is not a readable vlcat checkpoint ({first}); {hint}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("learner"), dict):
        raise RunError(f"{path} is not a vlcat checkpoint (no learner state); {hint}")
    return ckpt
