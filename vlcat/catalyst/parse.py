"""Turning LLM replies into clean candidate prompts, tolerant of weak models.

Even with schema-constrained decoding a small model numbers its items, wraps them in quotes, echoes the
class placeholder or repeats prompts it was shown; without constraints (a server lacking structured
outputs) or with a reply cut off by ``max_tokens`` the JSON itself may be broken. Every text is therefore
cleaned and checked here, and every rejection keeps its reason for the stage log. The authors' code took
the first line of the reply as the new prompt; here every proposal is kept, checked and later scored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from vlcat.catalyst.trajectory import normalize

# Class placeholders a model may echo from the meta-prompt or invent: {}, {class}, [CLASS], <classname>,
# <CLS>, the meta-prompt's own <prompt>/<class name> slots, and bare upper-case CLASS/CLASSNAME
# (lower-case "class" is an ordinary English word).
_SLOT_WORDS = r"(?:class|classname|class name|class_name|cls|label|prompt|your prompt)"
_PLACEHOLDER = re.compile(
    r"\{[^{}]{0,20}\}|\[\s*" + _SLOT_WORDS + r"\s*\]|<\s*" + _SLOT_WORDS + r"\s*>", re.IGNORECASE)
_BARE_PLACEHOLDER = re.compile(r"\b(?:CLASSNAME|CLASS_NAME|CLASS|CLS)\b")
# Leading list markers: "1.", "2)", "(3)", "4:", "[5]", "-", "*", "•", "#", "Prompt 6:", "Prompt:".
_MARKER = re.compile(
    r"^\s*(?:\(?\[?\d{1,3}\s*[.):\]]|\d{1,3}\s+-|[-*•·–—>#]+|prompt\s*\d{0,3}\s*[:.)-])\s*", re.IGNORECASE
)
_QUOTES = "\"'“”‘’«»`"
_STRING_LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?')


@dataclass
class Candidate:
    text: str
    raw: str
    choice: int
    how: str
    """json | salvaged-json | salvaged-strings | salvaged-lines: how the item was read from the reply."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Rejection:
    raw: str
    text: str
    reason: str
    choice: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_PROMPTS = "no prompts found in the reply"
"""A reply-level rejection: the reply held no item at all (it is not a proposal, so it counts for nothing)."""
DUPLICATE_IN_REPLY = "duplicate within the reply"
DUPLICATE_OF_SCORED = "duplicate of a prompt already scored"
SAME_CONTEXT = "same context as an already scored prompt after the length rule"
"""Set by the stage (stage.py) for a text whose tokens land in the slots as an earlier one's did."""
DUPLICATE_REASONS = frozenset({DUPLICATE_IN_REPLY, DUPLICATE_OF_SCORED, SAME_CONTEXT})


@dataclass
class ParseResult:
    accepted: list[Candidate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    returned: int = 0
    """Items the replies held, every one either accepted or rejected (reply-level rejections, which hold no
    item, are not among them), so that a stage can account for each proposal it asked for."""


def clean_text(raw: str) -> str:
    """Strip list markers, wrapping quotes, placeholders and stray punctuation; collapse whitespace."""
    text = " ".join(str(raw).split())
    for _ in range(3):  # markers and quotes can nest: '1. "a photo of"'
        before = text
        text = _MARKER.sub("", text, count=1).strip()
        text = text.strip(_QUOTES).strip()
        if text == before:
            break
    text = _PLACEHOLDER.sub(" ", text)
    text = _BARE_PLACEHOLDER.sub(" ", text)
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    # The fixed suffix already ends the prompt with ".", and a dangling comma or colon says nothing.
    text = text.strip(" ,.;:-–—").strip(_QUOTES).strip(" ,.;:")
    return text


def salvage(raw: str) -> tuple[list[str], str]:
    """Items from a reply that failed schema validation: (items, how they were found)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        data = None
    items = _strings_in(data) if data is not None else []
    if items:
        return items, "salvaged-json"
    literals = []
    # Quoted strings are JSON remains only in a reply that tried to be JSON; in plain prose a quoted
    # item is one line among others, so lines are read instead.
    json_like = "{" in (raw or "") or "[" in (raw or "")
    for match in _STRING_LITERAL.finditer(raw or "" if json_like else ""):
        if match.group(2):  # a key like "prompts":
            continue
        try:
            literals.append(json.loads(f'"{match.group(1)}"'))
        except json.JSONDecodeError:
            literals.append(match.group(1))
    if literals:
        return literals, "salvaged-strings"
    # A line ending in ":" introduces a list ("Here are some prompts:"); it is not a proposal.
    lines = [ln for ln in (raw or "").splitlines()
             if ln.strip() and ln.strip() not in "{}[]" and not ln.strip().endswith(":")]
    return lines, "salvaged-lines"


def _strings_in(data: Any) -> list[str]:
    if isinstance(data, dict):
        value = data.get("prompts")
        if value is None:
            lists = [v for v in data.values() if isinstance(v, list)]
            value = lists[0] if lists else None
        return _strings_in(value) if value is not None else []
    if isinstance(data, list):
        return [x if isinstance(x, str) else str(x.get("prompt", x.get("text", "")))
                if isinstance(x, dict) else str(x) for x in data]
    if isinstance(data, str):
        return [data]
    return []


FUNCTION_WORDS = frozenset(
    "a an the of in on at with without and or but for to from by as into onto over under near this that these "
    "those it its is are was be some any one two my your our their his her".split())
"""Words a class name may contain that say nothing about a class on their own."""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())


class CandidateParser:
    """Validates cleaned texts against the task and the history of texts already seen."""

    def __init__(self, *, max_chars: int, max_tokens: int, count_tokens: Callable[[str], int] | None = None,
                 classnames: Iterable[str] = (), max_items_per_choice: int = 64,
                 allowed_words: Iterable[str] = ()) -> None:
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        names = sorted({normalize(c.replace("_", " ")) for c in classnames if c.strip()}, key=len, reverse=True)
        self._classname = (re.compile(r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b")
                           if names else None)
        # A single word of a class name leaks too: "a photo of the star" before "red circle" pulls every
        # class towards stars (so does "stars"). Function words and the template's own words are exempt.
        allowed = FUNCTION_WORDS | set(_words(" ".join(allowed_words)))
        self._class_words = {w for n in names for w in _words(n)} - allowed
        self.max_items_per_choice = max_items_per_choice

    @property
    def class_words(self) -> list[str]:
        """The words a proposal may not contain because they name (part of) a class, sorted."""
        return sorted(self._class_words)

    def check(self, text: str, raw: str) -> str | None:
        """Why ``text`` (already cleaned) is unusable, or None."""
        if not text:
            return "empty after cleaning"
        if any((not c.isprintable() and not c.isspace()) or c == "\ufffd" for c in raw) or \
                any(not c.isprintable() or c == "\ufffd" for c in text):
            return "non-printable characters"
        if not any(c.isalpha() for c in text):
            return "no words"
        if len(text) > self.max_chars:
            return f"too long ({len(text)} > {self.max_chars} characters)"
        if self.count_tokens is not None:
            n = self.count_tokens(text)
            if n > self.max_tokens:
                return f"too long ({n} > {self.max_tokens} tokens)"
        if self._classname is not None and self._classname.search(normalize(text)):
            return "contains a class name"
        leaked = [w for w in _words(normalize(text)) if w in self._class_words
                  or (w.endswith("s") and w[:-1] in self._class_words)
                  or (w.endswith("es") and w[:-2] in self._class_words)]
        if leaked:
            return f"contains a word of a class name ('{leaked[0]}')"
        return None

    def parse(self, replies: Iterable[tuple[int, Any, str]], seen: Iterable[str] = ()) -> ParseResult:
        """``replies``: (choice index, validated JSON or None, raw text) per completion choice.

        ``seen`` holds texts already scored (trajectory, template, earlier stages); proposals equal to
        one of them, or to an earlier proposal of this stage, are rejected as duplicates.
        """
        known = {normalize(t) for t in seen}
        mine: set[str] = set()
        out = ParseResult()
        for index, data, raw in replies:
            if data is not None:
                items, how = _strings_in(data), "json"
            else:
                items, how = salvage(raw)
            out.returned += len(items)
            for item in items[self.max_items_per_choice:]:  # counted, and rejected, never read
                out.rejected.append(Rejection(str(item)[:200], "", f"past the first {self.max_items_per_choice} "
                                              "items of a reply", index))
            for item in items[: self.max_items_per_choice]:
                text = clean_text(item)
                reason = self.check(text, str(item))
                key = normalize(text)
                if reason is None and key in mine:
                    reason = DUPLICATE_IN_REPLY
                elif reason is None and key in known:
                    reason = DUPLICATE_OF_SCORED
                if reason is not None:
                    out.rejected.append(Rejection(str(item), text, reason, index))
                    continue
                mine.add(key)
                out.accepted.append(Candidate(text, str(item), index, how))
            if not items:
                out.rejected.append(Rejection(str(raw)[:500], "", NO_PROMPTS, index))
        return out
