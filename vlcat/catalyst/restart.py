"""The restart: training continues from a re-embedded text, through the learner's context protocol.

The mechanics (tokenising a text, the length rule for texts shorter or longer than the context, the
``pad_keep``/``pad_word`` fill) live with the learners in :mod:`vlcat.learners.reembed`, because setting
a context from words is part of what a context learner offers; they are re-exported here for the
catalyst's callers.
"""

from __future__ import annotations

import torch

from vlcat.learners.context import ContextLearner
from vlcat.learners.reembed import LENGTH_RULES, Placement, Reembedder, place_tokens, text_token_ids

__all__ = ["LENGTH_RULES", "Placement", "Reembedder", "apply_context", "place_tokens", "text_token_ids"]


def apply_context(learner: ContextLearner, context: torch.Tensor) -> None:
    """Overwrite the learner's context in place (the optimizer keeps pointing at the same parameter)."""
    learner.set_context(context)
