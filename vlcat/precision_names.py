"""The names ``model.precision`` accepts, apart from :mod:`vlcat.precision` (which imports torch).

The config schema checks the choice and reads the old aliases; keeping the names here lets it do so
without importing torch. What each name means is documented in :mod:`vlcat.precision`.
"""

from __future__ import annotations

from vlcat.errors import ConfigError

NAMED = ("fp32", "amp_bf16", "fp16")
"""What a precision resolves to."""
CHOICES = ("auto", *NAMED)
"""What ``model.precision`` accepts (besides the aliases)."""
ALIASES = {"bf16": "amp_bf16"}
"""Old names still read, for configs and run folders written before the names existed."""


def canonical(precision: str) -> str:
    """The choice a (possibly old) name stands for; an unknown name is one line naming the choices."""
    name = ALIASES.get(precision, precision)
    if name not in CHOICES:
        raise ConfigError(f"model.precision={precision!r} is not one of: {', '.join(CHOICES)}")
    return name
