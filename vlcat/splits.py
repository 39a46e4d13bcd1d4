"""The three splits every dataset has, and the one check of a split name (config, training, evaluation).

A module of its own, without torch, so that the config schema can use it without loading the data stack.
"""

from __future__ import annotations

from vlcat.errors import ConfigError

SPLITS = ("train", "val", "test")


def require_split(split: str, what: str) -> None:
    """Raise a one-line ``ConfigError`` naming ``what`` (a config key or option) unless ``split`` is a split."""
    if split not in SPLITS:
        raise ConfigError(f"{what}: {split!r} is not one of: {', '.join(SPLITS)}")
