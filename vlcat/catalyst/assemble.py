"""The one place a stage runner is built from the config: scorer, re-embedder, parser, task description,
stage settings and proposer, each sized from ``catalyst.*`` / ``llm.*`` and the learner's context.

Built on first use (:meth:`vlcat.catalyst.callback.CatalystCallback.runner`), because the un-augmented
features are only encoded once a snapshot or a stage needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vlcat.catalyst.endpoint import Endpoint
from vlcat.catalyst.fitness import PromptScorer
from vlcat.catalyst.metaprompt import TaskInfo, sample_classnames
from vlcat.catalyst.parse import CandidateParser
from vlcat.catalyst.proposers import (
    LLMProposer,
    NoProposer,
    OracleProposer,
    ProposalSettings,
    RandomProposer,
    vocabulary_words,
)
from vlcat.catalyst.stage import StageRunner, StageSettings, template_words
from vlcat.config import CatalystConfig, RunConfig
from vlcat.learners.context import ContextLearner
from vlcat.learners.reembed import Reembedder
from vlcat.train.port import TrainingPort


def prompt_limits(c: CatalystConfig, n_ctx: int) -> tuple[int, int]:
    """(characters, words) a proposed prompt may have: ``catalyst.max_prompt_chars`` and
    ``catalyst.max_prompt_tokens``, or, at 0, bounds that fit ``n_ctx`` context words with room to spare.
    One place, read by the stage's parser and by the usable-share probe (vlcat/bench/usable.py)."""
    return c.max_prompt_chars or 12 * n_ctx + 24, c.max_prompt_tokens or 2 * n_ctx


def reply_budget(c: CatalystConfig, n_ctx: int, max_tokens: int) -> int:
    """Reply tokens an LLM request may use: enough for N sensible prompts of n_ctx words (~1.5 tokens a
    word plus JSON quoting); more only buys a weak model room to ramble on a CPU server."""
    return min(max_tokens, c.num_candidates * (3 * n_ctx // 2 + 6) + 24)


def build_stage_runner(cfg: RunConfig, trainer: TrainingPort, *, domain: str, classnames: Sequence[str],
                       template: str, has_val: bool, endpoint: Endpoint | None,
                       domain_prompts: Sequence[str] = ()) -> StageRunner:
    """The stage runner of a run whose learner and images ``trainer`` holds; ``domain_prompts`` are the
    card's hand-written prompts, which only the oracle proposer uses."""
    learner: Any = trainer.learner  # a ContextLearner: the callback checked ``has_context`` on train start
    c = cfg.catalyst
    val = trainer.plain_features("val") if has_val else None
    # no autocast: candidates are scored on the learned-context path, as training computes it
    scorer = PromptScorer(learner, trainer.plain_features("train"), val)
    n_ctx = int(learner.n_ctx)
    reembedder = learner.reembedder(c.length_rule, c.pad_word)
    max_chars, max_words = prompt_limits(c, n_ctx)
    parser = CandidateParser(max_chars=max_chars, max_tokens=max_words,
                             count_tokens=lambda text: len(reembedder.token_ids(text)),
                             classnames=classnames, allowed_words=[template])
    task = TaskInfo(domain, len(classnames), sample_classnames(list(classnames), c.num_class_examples),
                    learner.class_token_position, n_ctx, class_words=parser.class_words)
    settings = StageSettings(policy=c.policy, reset_momentum=c.reset_momentum,
                             meta_prompt_size=c.max_trajectory + max(1, c.max_trajectory // 2),
                             lookahead_steps=c.lookahead_steps, race_size=c.race_size, switch_z=c.switch_z)
    proposer = _proposer(cfg, learner, task, parser, reembedder, max_words, endpoint, domain_prompts)
    return StageRunner(learner, scorer, reembedder, proposer, settings, decode_metric=c.decode_metric)


def _proposer(cfg: RunConfig, learner: ContextLearner, task: TaskInfo, parser: CandidateParser,
              reembedder: Reembedder, max_words: int, endpoint: Endpoint | None,
              domain_prompts: Sequence[str] = ()) -> Any:
    c, llm = cfg.catalyst, cfg.llm
    if c.proposer == "none":
        return NoProposer()
    if c.proposer == "oracle":
        # the context's side of each prompt's class slot, exactly as the card's template becomes the race's
        # "template" text, so an oracle text and the template compete on the same terms
        texts = [template_words(p, learner.class_token_position) for p in domain_prompts]
        return OracleProposer(texts, parser, prompts=domain_prompts)
    if c.proposer == "random":
        words = vocabulary_words(learner.decoder(c.decode_metric), reembedder.token_ids, seed=cfg.train.seed)
        return RandomProposer(words, task.n_ctx, parser, c.num_candidates * c.num_requests)
    budget = reply_budget(c, task.n_ctx, llm.max_tokens)
    return LLMProposer(endpoint or Endpoint(None, None, "unavailable", "not connected"), task, parser,
                       ProposalSettings(num_candidates=c.num_candidates, num_requests=c.num_requests,
                                        temperature=llm.temperature, max_tokens=budget, max_words=max_words,
                                        meta_prompt=c.meta_prompt))
