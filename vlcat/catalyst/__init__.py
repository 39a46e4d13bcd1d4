"""The LLM catalyst (arXiv 2405.19732): an LLM proposes prompts from the optimisation trajectory of
CoOp's context vectors, the proposals are scored, and training restarts from the best one.

Modules, one job each: ``schedule`` (when stages run), ``trajectory`` (snapshots), ``decode`` (nearest
tokens), ``fitness`` (batched scoring), ``metaprompt`` (what the LLM sees), ``parse`` (what it answered),
``policy`` and ``restart`` (where training continues), ``endpoint`` (which server), ``stage`` (one LLM
stage), ``callback`` (the trainer hook) and ``plot`` (the loss curve).

Exports are resolved lazily: ``vlcat.learners.coop`` imports ``vlcat.catalyst.decode``, and importing
this package must not pull the trainer (and with it the learners) back in.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "build_catalyst": "callback",
    "CatalystCallback": "callback",
    "reply_cache_dir": "callback",
    "NearestTokenDecoder": "decode",
    "DecodedPrompt": "decode",
    "Endpoint": "endpoint",
    "connect": "endpoint",
    "require_healthy": "endpoint",
    "Fitness": "fitness",
    "PromptScorer": "fitness",
    "TaskInfo": "metaprompt",
    "ScoredText": "metaprompt",
    "build_messages": "metaprompt",
    "reply_schema": "metaprompt",
    "CandidateParser": "parse",
    "clean_text": "parse",
    "salvage": "parse",
    "choose": "policy",
    "Decision": "policy",
    "Reembedder": "restart",
    "Placement": "restart",
    "place_tokens": "restart",
    "text_token_ids": "restart",
    "apply_context": "restart",
    "stage_epochs": "schedule",
    "snapshot_steps": "schedule",
    "StageRunner": "stage",
    "Snapshot": "trajectory",
    "Trajectory": "trajectory",
    "plot_loss_curve": "plot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vlcat.catalyst' has no attribute '{name}'")
    return getattr(importlib.import_module(f"vlcat.catalyst.{module}"), name)


def __dir__() -> list[str]:
    return __all__
