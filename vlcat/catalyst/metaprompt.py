"""The meta-prompt: what the LLM is told about the task and the prompts scored so far.

Two styles (``catalyst.meta_prompt``):

* ``scored_list`` follows the optimisation-by-prompting recipe the paper builds on: a task description,
  then the scored prompts sorted from worst to best (so the best sits right before the request, where a
  small model attends most), then the request for N new prompts.
* ``variations`` is written for small models, which copy what they are shown (55 % of SmolLM2-135M's
  scored_list proposals repeated a shown prompt): every prompt it shows is framed as something to
  change ("the best so far ...; other tried prompts ..."), the request asks for prompts that differ in at
  least one word, it states the domain, where the class name goes and the exact number of words, and
  the reply schema enforces that word count. Several samples (``num_requests``) at a moderate
  temperature give the spread; duplicates and class-name leaks are dropped by the parser before scoring.
  ``tools/probe_proposals.py`` measures the share of usable proposals of both styles.

Scores shown are held-out (few-shot validation) accuracies when the dataset has a val split. The reply
format is a JSON schema that the server enforces while decoding (vLLM structured outputs) and that the
client checks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vlcat.catalyst.fitness import Fitness

WORD_CHARS = "[A-Za-z0-9,.'&()-]"
MAX_BANNED_WORDS = 40
"""Most class words the variations meta-prompt lists; with more (ImageNet's thousands) it only says so, since
a long list would crowd out the task."""
SYSTEM = ("You help tune the text prompt of an image classifier (CLIP). The classifier compares an image with "
          "the sentence 'prompt + class name' for every class. Reply with JSON only.")


@dataclass
class TaskInfo:
    domain: str
    num_classes: int
    class_examples: list[str]
    class_position: str
    n_ctx: int
    class_words: list[str] = field(default_factory=list)
    """Words of the class names a prompt must not contain (the parser rejects them)."""


@dataclass
class ScoredText:
    text: str
    fitness: Fitness
    source: str
    """trajectory | template | history | llm | current: where the text came from."""


def sample_classnames(classnames: Sequence[str], k: int) -> list[str]:
    """``k`` names spread evenly over the class list: deterministic, and not just the first few classes
    (which in many datasets share a letter or a super-category)."""
    n = len(classnames)
    if k <= 0 or n == 0:
        return []
    if k >= n:
        return list(classnames)
    return [classnames[(i * n) // k] for i in range(k)]


def position_sentence(position: str, n_ctx: int) -> str:
    if position == "front":
        return 'The class name comes first and the prompt follows it: "<class name> <prompt>."'
    if position == "middle":
        return (f"The class name is inserted after the first {n_ctx // 2} words of the prompt: "
                '"<first words> <class name> <last words>."')
    return 'The prompt is followed by the class name: "<prompt> <class name>."'


def _score(f: Fitness) -> str:
    if f.val_acc is not None:
        return f"{f.val_acc:.1f}% correct on held-out images"
    return f"loss {f.loss:.3f}, accuracy {f.acc:.1f}%"


def build_messages(task: TaskInfo, scored: Sequence[ScoredText], num_candidates: int,
                   style: str = "scored_list") -> list[dict[str, str]]:
    """Chat messages for one stage; ``scored`` in any order (sorted here)."""
    if style == "variations":
        return _variations(task, scored, num_candidates)
    if style != "scored_list":
        raise ValueError(f"unknown meta-prompt style '{style}' (use scored_list or variations)")
    examples = ", ".join(task.class_examples)
    more = "." if len(task.class_examples) >= task.num_classes else ", ..."
    lines = [
        f"Task: recognise {task.num_classes} classes of {task.domain}.",
        f"Example class names: {examples}{more}" if examples else "",
        f"A prompt is a short phrase of about {task.n_ctx} words. {position_sentence(task.class_position, task.n_ctx)}",
        ("Each prompt was scored on held-out images: higher accuracy is better."
         if any(x.fitness.val_acc is not None for x in scored) else
         "Each prompt was scored on the training images: lower loss and higher accuracy are better."),
        "",
        "Scored prompts, from worst to best:",
    ]
    ordered = sorted(scored, key=lambda s: s.fitness.sort_key(), reverse=True)
    for item in ordered:
        lines.append(f'- "{item.text}" ({_score(item.fitness)})')
    lines += [
        "",
        f"Write {num_candidates} new prompts, each of about {task.n_ctx} words, different from all prompts "
        "above and likely to score better than the best one. Do not write any class name.",
        # No literal example list: a small model copies '["...", "..."]' verbatim; the schema gives the shape.
        'Answer with a JSON object whose "prompts" field is the list of your new prompts.',
    ]
    user = "\n".join(line for line in lines if line is not None)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user.replace("\n\n\n", "\n\n")}]


def _variations(task: TaskInfo, scored: Sequence[ScoredText], num_candidates: int) -> list[dict[str, str]]:
    ordered = sorted(scored, key=lambda s: s.fitness.sort_key())
    n = task.n_ctx
    examples = ", ".join(task.class_examples[:6])
    lines = [
        f"The images show {task.domain}.",
        f"There are {task.num_classes} classes" + (f", for example: {examples}." if examples else "."),
        f"A prompt is exactly {n} words. {position_sentence(task.class_position, n)}",
    ]
    if ordered:
        best = ordered[0]
        lines.append(f'The best prompt so far is "{best.text}" ({_score(best.fitness)}). '
                     "Do not repeat it: change at least one of its words.")
        others = [f'"{x.text}"' for x in ordered[1:6]]
        if others:
            lines.append("Prompts already tried, also not to be repeated: " + ", ".join(others) + ".")
    banned = task.class_words
    lines += [
        f"Write {num_candidates} new and different prompts of exactly {n} words that describe such images "
        "better. Do not write any class name, and no numbering.",
        (None if not banned else "Do not use any word of a class name either." if len(banned) > MAX_BANNED_WORDS
         else "Do not use these words either, since they name classes: " + ", ".join(banned) + "."),
        'Answer with a JSON object whose "prompts" field is the list of your new prompts.',
    ]
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n".join(line for line in lines if line is not None)}]


def reply_schema(num_candidates: int, max_words: int | None = None, exact_words: int | None = None
                 ) -> dict[str, Any]:
    """JSON schema of the reply: an object with 1..N prompt strings.

    Each prompt starts with a letter and uses only letters, digits, single spaces and plain punctuation,
    in at most ``max_words`` words of at most 24 characters. Under constrained decoding this keeps a
    small model from numbering, quoting, emitting symbol soup, or rambling inside one string until
    ``max_tokens`` (seen with SmolLM2: one 512-token "prompt" cost 40 s). The bounds are word counts,
    not ``maxLength``: xgrammar (vLLM's structured-output backend) refuses ``maxLength`` next to
    ``pattern`` and crashes (HTTP 500) on a character repetition bound of ~200; the parser checks the
    character length.
    """
    if exact_words is not None:
        words = f"{{{max(0, exact_words - 1)}}}"
    else:
        words = "*" if max_words is None else f"{{0,{max(0, max_words - 1)}}}"
    pattern = f"^[A-Za-z]{WORD_CHARS}{{0,23}}( {WORD_CHARS}{{1,24}}){words}$"
    return {
        "type": "object",
        "properties": {
            "prompts": {
                "type": "array",
                "items": {"type": "string", "pattern": pattern},
                "minItems": 1,
                "maxItems": num_candidates,
            }
        },
        "required": ["prompts"],
        "additionalProperties": False,
    }
