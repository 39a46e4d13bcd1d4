"""User-facing errors.

Every mistake a user can make (a wrong path, an unknown config key, a dead LLM server) is raised as a
``VlcatError`` whose message is one line saying what is wrong and what to do. Command-line entry points
catch it, print ``error: <message>`` and exit with status 2, so a user error is never a traceback.
"""

from __future__ import annotations


class VlcatError(Exception):
    """Base of all errors that are the user's to fix; the message is shown as-is."""

    exit_code = 2


class ConfigError(VlcatError):
    """The configuration is invalid (unknown key, wrong type, out-of-range value)."""


class DataError(VlcatError):
    """A dataset, split file or image is missing or malformed."""


class ModelError(VlcatError):
    """A CLIP model cannot be built or loaded."""


class RunError(VlcatError):
    """A run folder is in a state that forbids the requested action (e.g. already finished)."""
