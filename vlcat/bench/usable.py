"""How many of an LLM's proposals are usable, per meta-prompt style: the measurement behind ``meta_prompt``.

A proposal is *usable* when the stage's own parser accepts it: a clean text within the length bounds, no
class name, and not a copy of a prompt it was shown (or of another proposal of the same stage). The share
is accepted / requested (``num_candidates x num_requests``), over several stages with different seeds.
The shown prompts are either a fixed, realistic set (the synth_shapes template and decoded CoOp snapshots,
with held-out accuracies of their magnitude) or the ones a real run's stage logs recorded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlcat.catalyst.endpoint import Endpoint
from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo
from vlcat.catalyst.parse import CandidateParser
from vlcat.catalyst.proposers import LLMProposer, ProposalSettings
from vlcat.rundir import STAGE_DIR

#: Decoded snapshots of a CoOp run on synth_shapes (vlcat-toy, n_ctx 4, "a photo of a" init) and the
#: template, with validation accuracies of the size such runs show: what a stage typically shows the LLM.
DEFAULT_SHOWN = [("a photo of a", 72.9), ("a photo of shapes", 75.0), ("stars yellow green cross", 79.2),
                 ("outline yellow green cross", 80.2), ("drawing photo of a", 74.0)]


@dataclass
class StyleResult:
    style: str
    requested: int
    accepted: int
    reasons: Counter
    examples: list[str]

    @property
    def share(self) -> float:
        return self.accepted / self.requested if self.requested else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style, "requested": self.requested, "accepted": self.accepted,
                "usable_share": round(self.share, 4), "rejections": dict(self.reasons.most_common()),
                "examples": self.examples[:8]}


def shown_from_run(run_dir: Path) -> list[list[ScoredText]]:
    """The texts each recorded stage of a run could show (trajectory and references with their scores)."""
    out = []
    for path in sorted(Path(run_dir, STAGE_DIR).glob("stage_*.json")):
        rec = json.loads(path.read_text())
        items = [ScoredText(t["text"], Fitness(**t["fitness"]), "trajectory") for t in rec["trajectory"]
                 if t.get("fitness")]
        items += [ScoredText(r["text"], Fitness(r["loss"], r["acc"], r.get("val_acc"), r.get("val_loss")),
                             r["source"]) for r in rec.get("reference", [])]
        out.append(items)
    return out


def measure(endpoint: Endpoint, task: TaskInfo, parser: CandidateParser, shown_sets: Sequence[list[ScoredText]],
            styles: Sequence[str], *, num_candidates: int, num_requests: int, temperature: float,
            max_tokens: int, max_words: int, repeats: int = 4) -> list[StyleResult]:
    """Ask ``repeats`` stages per shown set and style (seeds 0..repeats-1) and count the usable proposals."""
    results = []
    for style in styles:
        proposer = LLMProposer(endpoint, task, parser, ProposalSettings(
            num_candidates=num_candidates, num_requests=num_requests, temperature=temperature,
            max_tokens=max_tokens, max_words=max_words, meta_prompt=style))
        res = StyleResult(style, 0, 0, Counter(), [])
        for shown in shown_sets:
            for seed in range(repeats):
                props = proposer.propose(shown, [x.text for x in shown], seed=seed)
                res.requested += props.requested
                res.accepted += len(props.accepted)
                res.examples += [c.text for c in props.accepted]
                if props.error is not None:
                    res.reasons[f"error: {props.error['type']}"] += 1
                for r in props.rejected:
                    res.reasons[r["reason"].split(" (")[0]] += 1
                if props.requested > props.returned:  # asked for and never given: so the counts add up
                    res.reasons["not returned"] += props.requested - props.returned
        results.append(res)
    return results


def default_shown() -> list[list[ScoredText]]:
    return [[ScoredText(t, Fitness(0.0, 0.0, acc, 1.0), "trajectory") for t, acc in DEFAULT_SHOWN]]


@dataclass
class ProbeSetup:
    """What one probe asks with: the synth_shapes task as a stage shows it, the stage's parser, and the
    reply bounds (``max_words`` is the parser's own word bound; ``max_tokens`` the reply budget)."""

    task: TaskInfo
    parser: CandidateParser
    max_words: int
    max_tokens: int


def stage_limits(n_ctx: int, num_candidates: int) -> tuple[int, int, int]:
    """(characters, words, reply tokens) a catalyst stage allows with the default catalyst settings.

    The catalyst's stage runner derives the same bounds from ``catalyst.max_prompt_chars`` and
    ``catalyst.max_prompt_tokens`` (0 = automatic) when it builds its parser (vlcat/catalyst/callback.py):
    the probe measures what that parser accepts, so it reads the settings, not numbers of its own.
    """
    from vlcat.catalyst.assemble import prompt_limits, reply_budget
    from vlcat.config import CatalystConfig, LLMConfig

    c = CatalystConfig(num_candidates=num_candidates)
    max_chars, max_words = prompt_limits(c, n_ctx)
    budget = reply_budget(c, n_ctx, LLMConfig().max_tokens)
    return max_chars, max_words, budget


def probe_setup(num_candidates: int, *, banned_words: bool = True, n_ctx: int = 4) -> ProbeSetup:
    """The synth_shapes task (written to the cache if missing; vlcat-toy's tokenizer, class name at the end)
    and the parser a stage of a run on it would use."""
    from vlcat.catalyst.metaprompt import sample_classnames
    from vlcat.clip import load_clip
    from vlcat.config import CatalystConfig
    from vlcat.data import load_dataset
    from vlcat.learners.reembed import text_token_ids
    from vlcat.synth.dataset import build_synth_dataset
    from vlcat.train.run import default_cache_dir

    root = default_cache_dir() / "data"
    build_synth_dataset(root)
    splits = load_dataset("synth_shapes", str(root))
    tokenizer = load_clip("vlcat-toy").tokenizer
    max_chars, max_words, budget = stage_limits(n_ctx, num_candidates)
    parser = CandidateParser(max_chars=max_chars, max_tokens=max_words,
                             count_tokens=lambda t: len(text_token_ids(tokenizer, t)), classnames=splits.classnames,
                             allowed_words=[splits.template])
    task = TaskInfo(splits.domain or splits.name, len(splits.classnames),
                    sample_classnames(splits.classnames, CatalystConfig().num_class_examples), "end", n_ctx,
                    class_words=parser.class_words if banned_words else [])
    return ProbeSetup(task, parser, parser.max_tokens, budget)
