"""One LLM stage: score the trajectory, get proposals (LLM or a control), score them, decide, restart.

The decision is the paper's (``best``/``if_better``: a restart point chosen by its score where it
starts) or the look-ahead race (``lookahead``, race.py: chosen by where a short gradient look-ahead from
it leads on the validation split, the current context always competing). With ``lookahead`` a stage
whose proposer failed (dead server, no usable reply) still races the texts it has (snapshots, template,
earlier stages' best), exactly as the ``none`` control does: the stage is recorded as failed, training
goes on.

Everything the stage saw and did goes into one :class:`~vlcat.catalyst.result.StageResult` (written by
the callback as ``llm_stages/stage_<k>.json``), because the LLM's contribution can only be judged from the full
picture: what it was shown, what it answered, what was rejected and why, and what each text scored.
Any LLM failure ends the stage with "no restart" and a recorded error; it never stops training.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlcat.catalyst.endpoint import Endpoint
from vlcat.catalyst.fitness import Fitness, PromptScorer
from vlcat.catalyst.metaprompt import ScoredText
from vlcat.catalyst.parse import DUPLICATE_REASONS, NO_PROMPTS, SAME_CONTEXT, clean_text
from vlcat.catalyst.policy import choose
from vlcat.catalyst.proposers import LLMProposer
from vlcat.catalyst.race import LookaheadRace, Start
from vlcat.catalyst.result import ScoredCandidate, StageResult
from vlcat.catalyst.trajectory import Snapshot, normalize
from vlcat.learners.context import ContextLearner
from vlcat.learners.reembed import Placement, Reembedder
from vlcat.train.checkpoint import rng_state, set_rng_state
from vlcat.train.port import TrainingPort


@dataclass
class StageSettings:
    policy: str
    reset_momentum: bool
    meta_prompt_size: int
    lookahead_steps: int = 0
    race_size: int = 4
    switch_z: float = 1.645


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """The stage must not move any random stream training uses (the LLM client's retry jitter draws
    from Python's ``random``), so that a stage with or without retries leaves training identical."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def template_words(template: str, class_position: str) -> str:
    """The card's hand-written words on the context's side of the class slot ("a photo of a {}." ->
    "a photo of a" when the class name ends the prompt)."""
    before, sep, after = template.partition("{}")
    if not sep:
        return clean_text(template)
    before, after = clean_text(before), clean_text(after)
    return (before or after) if class_position == "end" else (after or before)


class StageRunner:
    """Holds what does not change between stages (learner, scorer, LLM endpoint, task description); built
    from the config in one place, :func:`vlcat.catalyst.assemble.build_stage_runner`."""

    def __init__(self, learner: ContextLearner, scorer: PromptScorer, reembedder: Reembedder, proposer: Any,
                 settings: StageSettings, decode_metric: str = "cosine") -> None:
        self.learner = learner
        self.scorer = scorer
        self.reembedder = reembedder
        self.proposer = proposer
        self.settings = settings
        self.decoder = learner.decoder(decode_metric)

    def use_endpoint(self, endpoint: Endpoint) -> None:
        """Send LLM requests to ``endpoint`` from now on (the callback connects late, or reconnects)."""
        if isinstance(self.proposer, LLMProposer):
            self.proposer.endpoint = endpoint

    # ----- helpers -------------------------------------------------------------------------------
    def display_context(self) -> torch.Tensor:
        """The context rows that stand for "the prompt" (class 0's for class-specific contexts)."""
        return self.learner.display_context()

    def score_texts(self, items: Sequence[tuple[str, str]], current: torch.Tensor, placed: set[tuple] | None = None
                    ) -> tuple[list[ScoredText], list[Placement], list[dict[str, Any]]]:
        """Score (text, source) pairs in one batched call.

        Texts without tokens, and texts whose tokens land in the slots exactly as an earlier text's did
        (so they restart from the same point, e.g. "a nice photo of a" and "nice photo of a" with 4
        slots), are reported instead of scored. ``placed`` collects the placements seen so far.
        """
        placed = set() if placed is None else placed
        kept, placements, contexts, skipped = [], [], [], []
        for text, source in items:
            try:
                plc = self.reembedder.placement(text)
            except ValueError as exc:
                skipped.append({"text": text, "source": source, "reason": str(exc)})
                continue
            key = (tuple(plc.token_ids), tuple(plc.slots))
            if key in placed:
                skipped.append({"text": text, "source": source, "reason": SAME_CONTEXT})
                continue
            placed.add(key)
            kept.append((text, source))
            placements.append(plc)
            contexts.append(self.reembedder.context(plc, current))
        if not contexts:
            return [], [], skipped
        fits = self.scorer.score(torch.stack(contexts))
        return [ScoredText(t, f, s) for (t, s), f in zip(kept, fits, strict=True)], placements, skipped

    # ----- the stage -----------------------------------------------------------------------------
    def run(self, trainer: TrainingPort, *, stage: int, epoch: int, snapshots: Sequence[Snapshot],
            template: str | None, history: Sequence[str], seen: Sequence[str], seed: int = 0,
            current: Fitness | None = None) -> StageResult:
        """One stage at the end of 1-based epoch ``epoch``. ``seed`` seeds the proposer's draws; ``current``
        is the current context's fitness when the caller just scored it (it is not scored again)."""
        with preserved_rng():
            return self._run(trainer, stage=stage, epoch=epoch, snapshots=snapshots, template=template,
                             history=history, seen=seen, seed=seed, current=current)

    def _run(self, trainer: TrainingPort, *, stage: int, epoch: int, snapshots: Sequence[Snapshot],
             template: str | None, history: Sequence[str], seen: Sequence[str], seed: int,
             current: Fitness | None) -> StageResult:
        s = self.settings
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        current_ctx = self.learner.get_context()

        # 1. what the trajectory, the template and earlier stages say, all scored at the current point
        t = time.perf_counter()
        now = self.decoder.decode(self.display_context())
        current_fit = current if current is not None else self.scorer.score_current()
        res = StageResult(stage=stage, epoch=epoch, global_step=trainer.global_step, policy=s.policy,
                          endpoint=self.proposer.endpoint.describe() if hasattr(self.proposer, "endpoint") else None,
                          current=now, current_fitness=current_fit)
        items: list[tuple[str, str]] = []
        keys: set[str] = set()
        for text, source in ([(sn.text, "trajectory") for sn in snapshots]
                             + ([(template, "template")] if template else [])
                             + [(h, "history") for h in history]):
            if text.strip() and normalize(text) not in keys:
                keys.add(normalize(text))
                items.append((text, source))
        placed: set[tuple] = set()
        scored, placements, skipped = self.score_texts(items, current_ctx, placed)
        by_text = {normalize(x.text): (x, p) for x, p in zip(scored, placements, strict=True)}
        for sn in snapshots:
            entry = sn.to_dict()
            hit = by_text.get(normalize(sn.text))
            entry["fitness"] = hit[0].fitness.to_dict() if hit else None
            res.trajectory.append(entry)
        res.reference = [x for x in scored if x.source != "trajectory"]
        res.unscorable = skipped
        timings["score_trajectory_s"] = time.perf_counter() - t

        # 2. the proposals (LLM, or a control), shown the trajectory always, then the best of the rest
        traj = [x for x in scored if x.source == "trajectory"]
        others = sorted((x for x in scored if x.source != "trajectory"), key=lambda x: x.fitness.sort_key())
        shown = traj + others[: max(0, s.meta_prompt_size - len(traj))]
        t = time.perf_counter()
        props = self.proposer.propose(shown, list(seen) + [x.text for x in scored], seed=seed,
                                      snapshots=[sn.text for sn in snapshots])
        timings["llm_s"] = time.perf_counter() - t
        res.proposer = self.proposer.kind
        res.proposal = dict(props.record)
        error = props.error

        # 3. score the proposals
        t = time.perf_counter()
        res.rejected = list(props.rejected)
        candidates, cand_placements, unscorable = self.score_texts(
            [(c.text, self.proposer.kind) for c in props.accepted], current_ctx, placed)
        res.rejected += [{"raw": u["text"], "text": u["text"], "reason": u["reason"], "choice": None}
                         for u in unscorable]
        how = {c.text: c for c in props.accepted}
        for cand, plc in zip(candidates, cand_placements, strict=True):
            src = how[cand.text]
            res.candidates.append(ScoredCandidate(cand, src.raw, src.choice, src.how, plc))
        res.usable = usable_counts(props.requested, props.returned, len(candidates), res.rejected)
        if error is None and not candidates and self.proposer.kind != "none":
            u = res.usable
            error = {"type": "NoValidCandidate",
                     "message": f"{props.requested} proposals asked for gave no usable prompt "
                                f"({u['returned']} returned: {u['rejected']} rejected, {u['duplicates']} duplicates)"}
        timings["parse_score_s"] = time.perf_counter() - t
        res.error = error

        # 4. decision and restart
        t = time.perf_counter()
        if s.policy == "lookahead":
            res.decision, timings["committed_s"] = self._race(
                trainer, epoch, current_fit, candidates + [x for x in scored if x.source != "current"])
            timings["race_s"] = time.perf_counter() - t
        else:
            res.decision = self._paper_rule(trainer, candidates, traj, current_fit, current_ctx)
        timings["restart_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t_start
        res.timings = timings
        return res

    def _paper_rule(self, trainer: TrainingPort, candidates: list[ScoredText], traj: list[ScoredText],
                    current_fit: Fitness, current_ctx: torch.Tensor) -> dict[str, Any]:
        """``best`` / ``if_better``: the restart point is chosen on its score where it starts."""
        decision = choose(self.settings.policy, candidates, traj, current_fit)
        chosen = decision.chosen
        dec: dict[str, Any] = {"restart": decision.restart, "reason": decision.reason,
                               "chosen": None if chosen is None else {"text": chosen.text, "source": chosen.source,
                                                                      **chosen.fitness.to_dict()},
                               "momentum_reset": False}
        if decision.restart and chosen is not None:
            plc = self.reembedder.placement(chosen.text)
            self.learner.set_context(self.reembedder.context(plc, current_ctx))
            if self.settings.reset_momentum:
                trainer.reset_momentum()
                dec["momentum_reset"] = True
            after = self.decoder.decode(self.display_context())
            dec.update({"placement": plc.to_dict(), "decoded_after": after.text,
                        "decoded_after_ids": after.token_ids,
                        "verified": [after.token_ids[i] for i in plc.slots] == plc.token_ids})
        return dec

    def _race(self, trainer: TrainingPort, epoch: int, current_fit: Fitness, texts: list[ScoredText]
              ) -> tuple[dict[str, Any], float]:
        """``lookahead``: race the current context and the best texts (see race.py); commit the winner.
        Also returns the wall time of the winner's steps, which training keeps (not a cost of the stage)."""
        s = self.settings
        if self.scorer.val is None:
            raise ValueError("the look-ahead race needs a validation split")
        current_state = trainer.trainable_state()
        current_opt = trainer.optimizer_state()
        current_ctx = self.learner.get_context()
        starts = [Start("", "current", current_state, current_opt, current_fit.to_dict())]
        ranked = sorted(texts, key=lambda x: x.fitness.sort_key())
        for item in ranked[: max(0, s.race_size - 1)]:
            self.learner.set_context(self.reembedder.context(item.text, current_ctx))
            starts.append(Start(item.text, item.source, trainer.trainable_state(),
                                None if s.reset_momentum else current_opt, item.fitness.to_dict()))
        trainer.load_trainable_state(current_state)
        next_epoch = epoch  # 0-based index of the epoch after the one that just ended
        steps = 0
        if next_epoch < trainer.max_epoch:
            steps = min(s.lookahead_steps or trainer.steps_per_epoch, trainer.steps_per_epoch)
        result = LookaheadRace(trainer, self.scorer.val, s.switch_z).run(starts, epoch=next_epoch, steps=steps)
        win = result.winner
        if steps:
            trainer.steps_done_ahead(next_epoch, steps, win.losses, win.accs, win.terms)
        restart = win.start.source != "current"
        after = self.decoder.decode(self.display_context())
        return {"restart": restart, "policy": "lookahead", "race": result.record,
                "reason": _race_reason(result.record),
                "chosen": {"text": win.start.text, "source": win.start.source, **win.start.pre,
                           "val_acc_after": win.val_acc, "val_loss_after": win.val_loss} if restart else None,
                "momentum_reset": restart and win.start.optimizer is None,
                "decoded_after": after.text}, win.seconds


def usable_counts(requested: int, returned: int, accepted: int, rejected: Sequence[dict[str, Any]]
                  ) -> dict[str, Any]:
    """Where every proposal asked for went, so that a stage's numbers add up.

    Each item the replies held (``returned``) is accepted (scored, a candidate), a duplicate (of another
    proposal, of a text already scored, or landing in the slots as one did) or rejected for another reason;
    what was asked for and never came is ``missing``, and an unconstrained reply may hold more than asked
    (``extra``). So ``accepted + rejected + duplicates == returned`` and
    ``accepted + rejected + duplicates + missing == requested + extra``. Reply-level rejections (a reply
    with no item) are in ``reasons`` but count as no proposal.
    """
    items = [r for r in rejected if r.get("reason") != NO_PROMPTS]
    duplicates = sum(r.get("reason") in DUPLICATE_REASONS for r in items)
    reasons: dict[str, int] = {}
    for r in rejected:
        key = str(r.get("reason", "")).split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    return {"requested": requested, "returned": returned, "accepted": accepted,
            "rejected": len(items) - duplicates, "duplicates": duplicates,
            "missing": max(0, requested - returned), "extra": max(0, returned - requested), "reasons": reasons}


def _race_reason(race: dict[str, Any]) -> str:
    test = race.get("switch_test")
    if test is None:
        return "no text in the race: the current context continues"
    how = f"(b={test['b']}, c={test['c']}, z={test['z']:.2f} vs {test['threshold']:g})"
    if test["switch"]:
        return f"{test['source']} text beat the current context on validation {how}"
    if test["b"] <= test["c"]:
        return f"the current context won the look-ahead race {how}"
    return f"the current context kept its place: the best text's validation gain is not significant {how}"
