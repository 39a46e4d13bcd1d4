"""Prompt learners, registered by name, and the factory that builds one from the config.

Importing this package is light (no torch), so the config schema can use :mod:`vlcat.learners.options`
without paying for the learners: the learner modules import torch and load on first use. A class named
below (``CoOp``, ``PromptLearner``, ...) loads its module when it is first read, and the first question to
the registry (``get_learner``, ``list_learners``, ``build_learner``) imports every module here, each
registering its learner (``@register_learner``). Adding a learner is one module here, its options in
``options.py`` (with its line in ``LEARNER_OPTIONS``) and one YAML in ``configs/learners/``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vlcat.learners.registry import LearnerEntry, get_learner, learner_entries, list_learners, register_learner

if TYPE_CHECKING:
    from vlcat.clip import ClipBundle
    from vlcat.learners.base import LearnerStateError, LossOutput, PromptLearner, TaskSpec
    from vlcat.learners.context import ContextLearner
    from vlcat.learners.coop import CoOp
    from vlcat.learners.zeroshot import ZeroShotCLIP

_LAZY = {"CoOp": "coop", "ContextLearner": "context", "LearnerStateError": "base", "LossOutput": "base",
         "PromptLearner": "base", "TaskSpec": "base", "ZeroShotCLIP": "zeroshot"}
"""Public names that live in a torch module, and that module (loaded when the name is first read)."""

__all__ = ["CoOp", "ContextLearner", "LearnerEntry", "LearnerStateError", "LossOutput", "PromptLearner",
           "TaskSpec", "ZeroShotCLIP", "build_learner", "get_learner", "learner_entries", "list_learners",
           "register_learner"]


def __getattr__(name: str) -> Any:
    """``vlcat.learners.CoOp`` and the other names of :data:`_LAZY`, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def build_learner(cfg: Any, clip: ClipBundle, task: TaskSpec) -> PromptLearner:
    """The learner named by ``cfg.name`` (the ``learner`` config node) for the task's classes."""
    entry = get_learner(cfg.name)
    entry.cls.check_config(cfg)
    return entry.cls.from_config(cfg, clip, task)
