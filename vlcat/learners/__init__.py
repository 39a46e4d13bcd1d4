"""Prompt learners, registered by name, and the factory that builds one from the config.

Importing this package imports every module in it, which registers each learner (``@register_learner``);
the config schema (``learner.<name>`` nodes) is built from the registry. Adding a learner is one module
here and one YAML in ``configs/learners/``: nothing else lists learners.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from vlcat.clip import ClipBundle
from vlcat.learners.base import LearnerStateError, LossOutput, PromptLearner, TaskSpec
from vlcat.learners.context import ContextLearner
from vlcat.learners.coop import CoOp
from vlcat.learners.registry import LearnerEntry, get_learner, learner_entries, list_learners, register_learner
from vlcat.learners.zeroshot import ZeroShotCLIP

for _mod in pkgutil.iter_modules(__path__):  # every learner module registers itself on import
    importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["CoOp", "ContextLearner", "LearnerEntry", "LearnerStateError", "LossOutput", "PromptLearner",
           "TaskSpec", "ZeroShotCLIP", "build_learner", "get_learner", "learner_entries", "list_learners",
           "register_learner"]


def build_learner(cfg: Any, clip: ClipBundle, task: TaskSpec) -> PromptLearner:
    """The learner named by ``cfg.name`` (the ``learner`` config node) for the task's classes."""
    entry = get_learner(cfg.name)
    entry.cls.check_config(cfg)
    return entry.cls.from_config(cfg, clip, task)
