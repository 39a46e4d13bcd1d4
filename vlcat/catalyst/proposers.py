"""Where an LLM stage's new texts come from: the LLM, one of the two controls that judge it, or the oracle.

* ``llm``: the meta-prompt (``metaprompt.py``) to the endpoint, the replies through the parser.
* ``random``: the same number of texts as the LLM is asked for, with no LLM: half are random sequences
  of whole vocabulary words of the context's length, half are decoded snapshots with some words replaced
  by random ones. If the LLM does not beat this, its proposals carry no information the race can use.
* ``none``: no new texts; the stage still races the decoded snapshots, the template and earlier stages'
  best texts. What the catalyst gains over this is what the proposals add.
* ``oracle``: the dataset card's ``domain_prompts``, hand-written before any measurement, as context words
  (taken from each prompt the way the card's template becomes the race's "template" text). It is what a
  perfect LLM could hand this mechanism, so the ceiling next to random's floor: an LLM arm that gets
  close to it needs no better LLM, one far below it does.

All four go through the same parser (cleaning, length, class-name leaks, duplicates of texts already
scored), so the candidates they hand on are filtered the same way. Random draws come from a private
generator seeded per stage: the training RNG streams never move.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vlcat.catalyst.endpoint import Endpoint
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo, build_messages, reply_schema
from vlcat.catalyst.parse import Candidate, CandidateParser

PROPOSERS = ("llm", "random", "none", "oracle")


@dataclass
class Proposals:
    accepted: list[Candidate] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    """Why no proposal came (LLM unavailable, no usable reply); None when the proposer worked."""
    record: dict[str, Any] = field(default_factory=dict)
    """What goes into the stage log: meta_prompt, llm, replies (LLM) or how texts were drawn (random)."""
    requested: int = 0
    returned: int = 0
    """Items the proposer's replies held (fewer than requested when the LLM gave fewer, or failed)."""


@dataclass
class ProposalSettings:
    num_candidates: int
    num_requests: int
    temperature: float
    max_tokens: int
    max_words: int
    meta_prompt: str = "scored_list"


class LLMProposer:
    kind = "llm"

    def __init__(self, endpoint: Endpoint, task: TaskInfo, parser: CandidateParser, settings: ProposalSettings
                 ) -> None:
        self.endpoint = endpoint
        self.task = task
        self.parser = parser
        self.settings = settings

    def propose(self, shown: Sequence[ScoredText], seen: Sequence[str], seed: int,
                snapshots: Sequence[str] = ()) -> Proposals:
        s = self.settings
        messages = build_messages(self.task, shown, s.num_candidates, style=s.meta_prompt)
        schema = reply_schema(s.num_candidates, s.max_words,
                              exact_words=self.task.n_ctx if s.meta_prompt == "variations" else None)
        out = Proposals(requested=s.num_candidates * s.num_requests)
        out.record["meta_prompt"] = {"messages": messages, "schema": schema, "style": s.meta_prompt}
        result, error, note = self._ask(messages, schema, seed)
        out.record["meta_prompt"]["constrained"] = bool(result is not None and result.request.constrain)
        out.record["meta_prompt"]["fallback"] = note
        out.error = error
        if result is None:
            out.record["llm"], out.record["replies"] = None, []
            return out
        out.record["llm"] = {"model": result.model, "cached": result.cached, "usage": result.usage,
                             "elapsed_s": result.elapsed_s, "attempts": result.attempts}
        out.record["replies"] = [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                                  "valid": c.ok, "error": c.error} for c in result.choices]
        parsed = self.parser.parse([(c.index, c.data if c.ok else None, c.text) for c in result.choices],
                                   seen=seen)
        out.accepted = parsed.accepted
        out.rejected = [r.to_dict() for r in parsed.rejected]
        out.returned = parsed.returned
        return out

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


class RandomProposer:
    """The random control (see the module docstring). ``words(rng, k)`` draws k whole vocabulary words."""

    kind = "random"

    def __init__(self, vocabulary: Sequence[str], n_words: int, parser: CandidateParser, count: int) -> None:
        if not vocabulary:
            raise ValueError("the random proposer needs a non-empty vocabulary")
        self.vocabulary = list(vocabulary)
        self.n_words = n_words
        self.parser = parser
        self.count = count

    def propose(self, shown: Sequence[ScoredText], seen: Sequence[str], seed: int,
                snapshots: Sequence[str] = ()) -> Proposals:
        rng = random.Random(seed)  # private: never the training streams
        texts, how = [], []
        bases = [t.split() for t in snapshots if t.split()]
        for i in range(self.count):
            if i % 2 == 1 and bases:
                words = list(rng.choice(bases))
                for pos in rng.sample(range(len(words)), k=max(1, len(words) // 2)):
                    words[pos] = rng.choice(self.vocabulary)
                texts.append(" ".join(words))
                how.append("mutated snapshot")
            else:
                texts.append(" ".join(rng.choice(self.vocabulary) for _ in range(self.n_words)))
                how.append("random words")
        parsed = self.parser.parse([(0, {"prompts": texts}, "")], seen=seen)
        out = Proposals(requested=self.count, returned=parsed.returned)
        out.accepted = [Candidate(c.text, c.raw, c.choice, how[texts.index(c.raw)] if c.raw in texts else "random")
                        for c in parsed.accepted]
        out.rejected = [r.to_dict() for r in parsed.rejected]
        out.record = {"random": {"seed": seed, "drawn": texts, "how": how}}
        return out


class OracleProposer:
    """The ceiling (see the module docstring): the same fixed texts every stage, through the same parser as
    LLM replies, so a text already scored in an earlier stage is a duplicate here as an LLM repeat would
    be (it races on as ``history`` when it was among the best)."""

    kind = "oracle"

    def __init__(self, texts: Sequence[str], parser: CandidateParser, prompts: Sequence[str] = ()) -> None:
        if not texts:
            raise ValueError("the oracle proposer needs the dataset card's domain_prompts")
        self.texts = list(texts)
        self.prompts = list(prompts)
        self.parser = parser

    def propose(self, shown: Sequence[ScoredText], seen: Sequence[str], seed: int,
                snapshots: Sequence[str] = ()) -> Proposals:
        parsed = self.parser.parse([(0, {"prompts": list(self.texts)}, "")], seen=seen)
        out = Proposals(requested=len(self.texts), returned=parsed.returned)
        out.accepted = [Candidate(c.text, c.raw, c.choice, "domain prompt") for c in parsed.accepted]
        out.rejected = [r.to_dict() for r in parsed.rejected]
        out.record = {"oracle": {"domain_prompts": self.prompts, "texts": self.texts}}
        return out


class NoProposer:
    kind = "none"

    def propose(self, shown: Sequence[ScoredText], seen: Sequence[str], seed: int,
                snapshots: Sequence[str] = ()) -> Proposals:
        return Proposals(record={"none": "no proposals: the stage races snapshots, template and history only"})


def vocabulary_words(decoder: Any, token_ids: Any, limit: int = 4000, seed: int = 0) -> list[str]:
    """Up to ``limit`` whole alphabetic words of the tokenizer, each one token long (a fixed sample).

    ``decoder`` is a nearest-token decoder (its ``ids`` are the real word tokens, its ``tokenizer``
    detokenizes); ``token_ids(text)`` tokenizes without SOS/EOS. A token that decodes to letters and
    tokenizes back to itself is a whole word, not a word piece.
    """
    from vlcat.learners.decode import detokenize

    ids = [int(i) for i in decoder.ids]
    rng = random.Random(seed)
    rng.shuffle(ids)
    words: list[str] = []
    for i in ids:
        text = detokenize(decoder.tokenizer, [i])
        if len(text) >= 2 and text.isalpha() and text.isascii() and token_ids(text) == [i]:
            words.append(text)
            if len(words) >= limit:
                break
    return words
