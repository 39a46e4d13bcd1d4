"""What one LLM stage did, typed: the stage runner returns a :class:`StageResult`, the callback reads it.

The stage file ``llm_stages/stage_<k>.json`` is a file format (tests, the TensorBoard logger and the
benchmark read it), so :meth:`StageResult.to_record` writes exactly the keys, values and key order the
stage dict always had; the callback's metrics line and its memory of good texts come from the typed
fields instead of re-parsing that dict (scores stay :class:`Fitness` objects end to end).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText
from vlcat.learners.decode import DecodedPrompt
from vlcat.learners.reembed import Placement


@dataclass
class ScoredCandidate:
    """A proposal that was scored: the text and its fitness, how it was read from the reply, and where its
    tokens land in the context slots."""

    scored: ScoredText
    raw: str
    choice: int | None
    how: str
    placement: Placement

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.scored.text, "raw": self.raw, "choice": self.choice, "how": self.how,
                **self.scored.fitness.to_dict(), "placement": self.placement.to_dict()}


@dataclass
class StageResult:
    """One stage, as the stage runner saw it (the fields follow the stage file's keys)."""

    stage: int
    epoch: int
    global_step: int
    """The step the stage started at (before any look-ahead steps it kept)."""
    policy: str
    endpoint: dict[str, Any] | None
    current: DecodedPrompt
    current_fitness: Fitness
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    """The snapshots shown, each with its text's fitness at the current point (None if unscorable)."""
    reference: list[ScoredText] = field(default_factory=list)
    """Template and earlier stages' texts, scored at the current point."""
    unscorable: list[dict[str, Any]] = field(default_factory=list)
    proposer: str = ""
    proposal: dict[str, Any] = field(default_factory=dict)
    """What the proposer recorded (meta-prompt, LLM reply, random draw, ...): an audit, kept as is."""
    candidates: list[ScoredCandidate] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    usable: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    decision: dict[str, Any] = field(default_factory=dict)
    """The decision as recorded (``restart``, ``chosen``, the race's record, ...)."""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "failed"

    @property
    def restarted(self) -> bool:
        return bool(self.decision.get("restart"))

    def to_record(self) -> dict[str, Any]:
        """The stage file's dict (without ``schedule``/``summary``, which the callback adds)."""
        cur = self.current
        return {
            "type": "llm_stage", "stage": self.stage, "epoch": self.epoch, "global_step": self.global_step,
            "status": self.status, "error": self.error, "policy": self.policy, "endpoint": self.endpoint,
            "current": {"text": cur.text, "token_ids": cur.token_ids, "similarities": cur.similarities,
                        **self.current_fitness.to_dict()},
            "trajectory": self.trajectory,
            "reference": [{"text": x.text, "source": x.source, **x.fitness.to_dict()} for x in self.reference],
            "unscorable": self.unscorable,
            "proposer": self.proposer,
            "meta_prompt": None, "llm": None, "replies": [], **self.proposal,
            "candidates": [c.to_dict() for c in self.candidates],
            "rejected": self.rejected,
            "usable": self.usable,
            "decision": self.decision,
            "timings": self.timings,
        }

    def ranked_texts(self) -> list[str]:
        """The candidates and earlier stages' texts, best first (``Fitness.sort_key``; stable on ties)."""
        scored = [(c.scored.text, c.scored.fitness.sort_key()) for c in self.candidates]
        scored += [(r.text, r.fitness.sort_key()) for r in self.reference if r.source == "history"]
        return [text for text, _ in sorted(scored, key=lambda x: x[1])]

    def texts(self) -> list[str]:
        """Every text the stage scored or showed, in the stage file's order (for deduplication later)."""
        return ([t["text"] for t in self.trajectory] + [c.scored.text for c in self.candidates]
                + [r.text for r in self.reference])

    def metrics_line(self, global_step: int, unreached: bool) -> dict[str, Any]:
        """The stage's line in ``metrics.jsonl``; ``global_step`` is where training stands after the stage."""
        dec = self.decision
        chosen = dec.get("chosen") or {}
        restart = dec["restart"]
        line = {
            "type": "llm_stage", "stage": self.stage, "epoch": self.epoch, "global_step": global_step,
            "status": self.status, "error": (self.error or {}).get("message"),
            "restarted": restart, "chosen_text": chosen.get("text") if restart else None,
            "chosen_source": chosen.get("source") if restart else None,
            "chosen_loss": chosen.get("loss") if restart else None,
            "chosen_val_acc": chosen.get("val_acc") if restart else None,
            "current_loss": self.current_fitness.loss, "current_val_acc": self.current_fitness.val_acc,
            "proposer": self.proposer, "n_candidates": len(self.candidates),
            "n_rejected": len(self.rejected), "llm_s": self.timings["llm_s"],
            "total_s": self.timings["total_s"], "race_s": self.timings.get("race_s", 0.0),
            "llm_unreached": unreached,
        }
        race = dec.get("race")
        if race is not None:
            line["committed_s"] = self.timings.get("committed_s", 0.0)
            line["race"] = {"steps": race["steps"], "gradient_steps": race["gradient_steps"],
                            "switch_test": race.get("switch_test"),
                            "starters": [(st["source"], st["text"]) for st in race["starters"]],
                            "winner": race["winner"]}
        return line
