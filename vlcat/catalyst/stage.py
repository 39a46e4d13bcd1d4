"""One LLM stage: score the trajectory, ask the LLM, parse and score its proposals, decide, restart.

Everything the stage saw and did goes into one record (written by the callback as
``llm_stages/stage_<k>.json``), because the LLM's contribution can only be judged from the full
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
from vlcat.catalyst.fitness import PromptScorer
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo, build_messages, reply_schema
from vlcat.catalyst.parse import CandidateParser, clean_text
from vlcat.catalyst.policy import choose
from vlcat.catalyst.restart import Placement, Reembedder, apply_context
from vlcat.catalyst.trajectory import Snapshot, normalize
from vlcat.learners.context import ContextLearner
from vlcat.train.checkpoint import rng_state, set_rng_state


@dataclass
class StageSettings:
    policy: str
    num_candidates: int
    num_requests: int
    temperature: float
    max_tokens: int
    """Completion budget of the request (a reply cut by it is salvaged by the parser)."""
    max_words: int
    reset_momentum: bool
    seed: int
    meta_prompt_size: int


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
    """Holds what does not change between stages (learner, scorer, LLM endpoint, task description)."""

    def __init__(self, learner: ContextLearner, scorer: PromptScorer, reembedder: Reembedder, parser: CandidateParser,
                 endpoint: Endpoint, task: TaskInfo, settings: StageSettings, decode_metric: str = "cosine") -> None:
        self.learner = learner
        self.scorer = scorer
        self.reembedder = reembedder
        self.parser = parser
        self.endpoint = endpoint
        self.task = task
        self.settings = settings
        self.decoder = learner.decoder(decode_metric)

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
                skipped.append({"text": text, "source": source,
                                "reason": "same context as an already scored prompt after the length rule"})
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
    def run(self, trainer: Any, *, stage: int, epoch: int, snapshots: Sequence[Snapshot],
            template: str | None, history: Sequence[str], seen: Sequence[str]) -> dict[str, Any]:
        with preserved_rng():
            return self._run(trainer, stage=stage, epoch=epoch, snapshots=snapshots, template=template,
                             history=history, seen=seen)

    def _run(self, trainer: Any, *, stage: int, epoch: int, snapshots: Sequence[Snapshot],
             template: str | None, history: Sequence[str], seen: Sequence[str]) -> dict[str, Any]:
        s = self.settings
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        record: dict[str, Any] = {
            "type": "llm_stage", "stage": stage, "epoch": epoch, "global_step": trainer.global_step,
            "status": "failed", "error": None, "endpoint": self.endpoint.describe(), "policy": s.policy,
        }
        current_ctx = self.learner.get_context()

        # 1. what the trajectory, the template and earlier stages say, all scored at the current point
        t = time.perf_counter()
        now = self.decoder.decode(self.display_context())
        current_fit = self.scorer.score_current()
        record["current"] = {"text": now.text, "token_ids": now.token_ids, "similarities": now.similarities,
                             **current_fit.to_dict()}
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
        record["trajectory"] = []
        for sn in snapshots:
            entry = sn.to_dict()
            hit = by_text.get(normalize(sn.text))
            entry["fitness"] = hit[0].fitness.to_dict() if hit else None
            record["trajectory"].append(entry)
        record["reference"] = [{"text": x.text, "source": x.source, **x.fitness.to_dict()}
                               for x in scored if x.source != "trajectory"]
        record["unscorable"] = skipped
        timings["score_trajectory_s"] = time.perf_counter() - t

        # 2. the meta-prompt: trajectory always, then the best of template/history, bounded
        traj = [x for x in scored if x.source == "trajectory"]
        others = sorted((x for x in scored if x.source != "trajectory"), key=lambda x: x.fitness.sort_key())
        shown = traj + others[: max(0, s.meta_prompt_size - len(traj))]
        messages = build_messages(self.task, shown, s.num_candidates)
        schema = reply_schema(s.num_candidates, s.max_words)
        record["meta_prompt"] = {"messages": messages, "schema": schema}

        # 3. the LLM
        t = time.perf_counter()
        result, error, note = self._ask(messages, schema, seed=s.seed)
        timings["llm_s"] = time.perf_counter() - t
        record["meta_prompt"]["constrained"] = bool(result is not None and result.request.constrain)
        record["meta_prompt"]["fallback"] = note
        if result is not None:
            record["llm"] = {"model": result.model, "cached": result.cached, "usage": result.usage,
                             "elapsed_s": result.elapsed_s, "attempts": result.attempts}
            record["replies"] = [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                                  "valid": c.ok, "error": c.error} for c in result.choices]
        else:
            record["llm"], record["replies"] = None, []

        # 4. parse and score the proposals
        t = time.perf_counter()
        candidates: list[ScoredText] = []
        cand_placements: list[Placement] = []
        record["candidates"], record["rejected"] = [], []
        if result is not None:
            replies = [(c.index, c.data if c.ok else None, c.text) for c in result.choices]
            parsed = self.parser.parse(replies, seen=list(seen) + [x.text for x in scored])
            record["rejected"] = [r.to_dict() for r in parsed.rejected]
            candidates, cand_placements, unscorable = self.score_texts([(c.text, "llm") for c in parsed.accepted],
                                                                       current_ctx, placed)
            record["rejected"] += [{"raw": u["text"], "text": u["text"], "reason": u["reason"], "choice": None}
                                   for u in unscorable]
            how = {c.text: c for c in parsed.accepted}
            for cand, plc in zip(candidates, cand_placements, strict=True):
                src = how[cand.text]
                record["candidates"].append({"text": cand.text, "raw": src.raw, "choice": src.choice, "how": src.how,
                                             **cand.fitness.to_dict(), "placement": plc.to_dict()})
            if error is None and not candidates:
                error = {"type": "NoValidCandidate",
                         "message": f"{len(result.choices)} replies gave no usable prompt "
                                    f"({len(record['rejected'])} rejected)"}
        timings["parse_score_s"] = time.perf_counter() - t
        record["error"] = error

        # 5. decision and restart
        t = time.perf_counter()
        decision = choose(s.policy, candidates, traj, current_fit)
        chosen = decision.chosen
        dec: dict[str, Any] = {"restart": decision.restart, "reason": decision.reason,
                               "chosen": None if chosen is None else {"text": chosen.text, "source": chosen.source,
                                                                      **chosen.fitness.to_dict()},
                               "momentum_reset": False}
        if decision.restart and chosen is not None:
            plc = self.reembedder.placement(chosen.text)
            apply_context(self.learner, self.reembedder.context(plc, current_ctx))
            if s.reset_momentum:
                trainer.reset_momentum()
                dec["momentum_reset"] = True
            after = self.decoder.decode(self.display_context())
            dec.update({"placement": plc.to_dict(), "decoded_after": after.text,
                        "decoded_after_ids": after.token_ids,
                        "verified": [after.token_ids[i] for i in plc.slots] == plc.token_ids})
        record["decision"] = dec
        record["status"] = "ok" if error is None else "failed"
        timings["restart_s"] = time.perf_counter() - t
        timings["total_s"] = time.perf_counter() - t_start
        record["timings"] = timings
        return record

    def _ask(self, messages: list[dict[str, str]], schema: dict[str, Any], seed: int
             ) -> tuple[Any, dict[str, str] | None, str | None]:
        """The chat completion: (result, None, note) or (None, error, note).

        A server that rejects the schema (HTTP 400) is asked again without the constraint, and not asked
        with one again; one that fails on it (HTTP 500, e.g. a grammar-compiler crash) is asked again
        without it for this stage only, since a 500 may also be transient. Unconstrained replies are
        salvaged by the parser. ``note`` says which fallback happened.
        """
        from vlcat.llm.errors import LLMBadRequestError, LLMError, LLMServerError

        ep, s = self.endpoint, self.settings
        if ep.client is None:
            return None, {"type": "LLMUnavailable", "message": ep.error or "no LLM endpoint"}, None

        def ask(constrain: bool) -> Any:
            return ep.client.complete(messages, n=s.num_requests, temperature=s.temperature, seed=seed,
                                      max_tokens=s.max_tokens, schema=schema, schema_name="prompts",
                                      constrain=constrain)

        note = None
        try:
            if not ep.structured:
                return ask(False), None, "unconstrained (the server refused structured outputs earlier)"
            try:
                return ask(True), None, None
            except LLMBadRequestError as exc:
                ep.structured = False
                note = f"schema refused, asked unconstrained: {exc}"
            except LLMServerError as exc:
                note = f"constrained request failed, asked unconstrained: {exc}"
            return ask(False), None, note
        except LLMError as exc:
            return None, {"type": type(exc).__name__, "message": str(exc)}, note
        except Exception as exc:  # noqa: BLE001 - whatever the transport does, training goes on
            return None, {"type": type(exc).__name__, "message": " ".join(str(exc).split())[:500]}, note
