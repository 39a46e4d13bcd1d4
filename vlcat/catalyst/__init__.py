"""The LLM catalyst (arXiv 2405.19732): an LLM proposes prompts from the optimisation trajectory of a
context learner's context vectors, the proposals are scored, and training restarts from the best one.

Modules, one job each: ``schedule`` (when stages run), ``trajectory`` (snapshots), ``fitness`` (batched
scoring), ``metaprompt`` (what the LLM sees), ``parse`` (what it answered), ``proposers`` (the LLM, the
random / no-proposal controls, or the oracle of the card's domain prompts), ``policy`` (the paper's restart
rules), ``race`` (the look-ahead race that judges restarts by their outcome on validation), ``endpoint``
(which server), ``stage`` (one LLM stage) and ``result`` (what it did, typed), ``assemble`` (the stage
runner from the config),
``learner_fit`` (which learners it serves), ``callback`` (the trainer hook), ``console`` (its lines) and
``plot`` (the loss curve). The catalyst talks to training only through the trainer port
(:mod:`vlcat.train.port`) and to learners only through the context protocol
(:mod:`vlcat.learners.context`); nearest-token decoding and re-embedding (the restart's mechanics) live
with the learners.

Importing this package registers the catalyst with the run loop (``vlcat.train.run.CALLBACK_BUILDERS``),
which never imports it: ``catalyst.enabled=true`` needs ``import vlcat.catalyst`` (the CLIs do it).
"""

from __future__ import annotations

from vlcat.catalyst.callback import CatalystCallback, build_catalyst, reply_cache_dir
from vlcat.catalyst.endpoint import Endpoint, connect, require_healthy
from vlcat.catalyst.fitness import Fitness, PromptScorer
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo, build_messages, reply_schema
from vlcat.catalyst.parse import CandidateParser, clean_text, salvage
from vlcat.catalyst.plot import plot_loss_curve
from vlcat.catalyst.policy import Decision, choose
from vlcat.catalyst.proposers import LLMProposer, NoProposer, OracleProposer, RandomProposer
from vlcat.catalyst.race import LookaheadRace, Start
from vlcat.catalyst.result import StageResult
from vlcat.catalyst.schedule import snapshot_steps, stage_epochs
from vlcat.catalyst.stage import StageRunner
from vlcat.catalyst.trajectory import Snapshot, Trajectory
from vlcat.learners.decode import DecodedPrompt, NearestTokenDecoder
from vlcat.learners.reembed import Placement, Reembedder, place_tokens, text_token_ids
from vlcat.train.run import CALLBACK_BUILDERS

CALLBACK_BUILDERS["catalyst"] = build_catalyst

__all__ = [
    "CandidateParser", "CatalystCallback", "Decision", "DecodedPrompt", "Endpoint", "Fitness", "LLMProposer",
    "LookaheadRace", "NearestTokenDecoder", "NoProposer", "OracleProposer", "Placement", "PromptScorer",
    "RandomProposer", "Reembedder",
    "ScoredText", "Snapshot", "StageResult", "StageRunner", "Start", "TaskInfo", "Trajectory", "build_catalyst",
    "build_messages", "choose", "clean_text", "connect", "place_tokens", "plot_loss_curve", "reply_cache_dir",
    "reply_schema", "require_healthy", "salvage", "snapshot_steps", "stage_epochs", "text_token_ids",
]
