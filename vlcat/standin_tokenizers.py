"""Stand-ins for the Hugging Face tokenizers that open_clip loads from the Hub, for offline tests.

SigLIP's T5/Gemma sentencepiece vocabularies, the mT5 and XLM-V vocabularies of the "worldwide" models and
CLIPA's BERT vocabulary come from the Hub and need ``transformers``; neither is available offline. What a
prompt learner depends on is not the vocabulary but the *layout* of the ids: the start token (or none),
the end token, the padding id, and the text cleaning. A stand-in keeps exactly that, as open_clip's code
states it (``SigLipTokenizer``: T5 pads with the EOS id 1 and has no start token, Gemma has no start token,
EOS 1 and pad 0; ``HFTokenizer``: BERT's [SEP] stripped to 0 with ``strip_sep_token``), and spells words
as deterministic sentencepiece-style pieces (up to four characters, the first with "▁"), so long class
names are several tokens as with the real vocabularies.

The stand-in is wrapped in open_clip's own ``HFTokenizer`` (constructed without its Hub download), so the
cleaning, padding and ``strip_sep_token`` code that runs is open_clip's. Nothing here is used outside
tests and the model-family table (``tools/zoo_table.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from open_clip.tokenizer import HFTokenizer, get_clean_fn

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class SpecialLayout:
    """The special ids of a Hub tokenizer, as open_clip's code sets or documents them."""

    vocab_size: int
    first_word_id: int
    eos_id: int
    pad_id: int
    bos_id: int | None = None
    lower: bool = False


#: Hub tokenizer name -> its layout (source: open_clip's tokenizer.py and each vocabulary's conventions).
LAYOUTS: dict[str, SpecialLayout] = {
    "t5": SpecialLayout(vocab_size=32_000, first_word_id=3, eos_id=1, pad_id=1),  # SigLIP c4-en: pad = EOS
    "mc4": SpecialLayout(vocab_size=250_000, first_word_id=3, eos_id=1, pad_id=1),  # SigLIP i18n
    "gemma": SpecialLayout(vocab_size=256_000, first_word_id=3, eos_id=1, pad_id=0),  # SigLIP2: no BOS
    "mt5": SpecialLayout(vocab_size=250_100, first_word_id=3, eos_id=1, pad_id=0),  # google/mt5-base
    "xlm-v": SpecialLayout(vocab_size=901_629, first_word_id=4, eos_id=2, pad_id=1, bos_id=0),  # <s> .. </s>
    "bert": SpecialLayout(vocab_size=30_522, first_word_id=1000, eos_id=102, pad_id=0, bos_id=101, lower=True),
}


def layout_for(hf_tokenizer_name: str) -> str:
    """Which stand-in layout fits a config's ``hf_tokenizer_name``."""
    name = hf_tokenizer_name.lower()
    if "siglip2" in name:
        return "gemma"
    if "i18n" in name:
        return "mc4"
    if "siglip" in name:
        return "t5"
    if "mt5" in name:
        return "mt5"
    if "xlm-v" in name:
        return "xlm-v"
    if "bert" in name:
        return "bert"
    raise KeyError(f"no stand-in layout for the tokenizer '{hf_tokenizer_name}'")


class StandInPieceTokenizer:
    """The part of a ``transformers`` tokenizer that open_clip's ``HFTokenizer`` and vlcat call."""

    def __init__(self, layout: SpecialLayout) -> None:
        self.layout = layout
        self.eos_token_id = self.sep_token_id = layout.eos_id
        self.bos_token_id = self.cls_token_id = layout.bos_id
        self.pad_token_id = layout.pad_id
        self.all_special_ids = sorted({layout.eos_id, layout.pad_id} | ({layout.bos_id} - {None}))
        self._pieces: dict[int, str] = {}

    def _piece_id(self, piece: str) -> int:
        span = self.layout.vocab_size - self.layout.first_word_id
        i = self.layout.first_word_id + int.from_bytes(hashlib.blake2b(piece.encode(), digest_size=8).digest(),
                                                       "little") % span
        self._pieces[i] = piece
        return i

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if self.layout.lower:
            text = text.lower()
        ids = []
        for word in _WORDS.findall(text):
            pieces = [word[i:i + 4] for i in range(0, len(word), 4)]
            ids += [self._piece_id(("▁" if j == 0 else "") + p) for j, p in enumerate(pieces)]
        if add_special_tokens:
            ids = ([self.layout.bos_id] if self.layout.bos_id is not None else []) + ids + [self.layout.eos_id]
        return ids

    def __call__(self, texts: list[str], return_tensors: str = "pt", max_length: int = 77,
                 padding: str = "max_length", truncation: bool = True) -> SimpleNamespace:
        rows = []
        n_special = 1 + (self.layout.bos_id is not None)
        for text in texts:
            body = self.encode(text, add_special_tokens=False)[:max_length - n_special]
            row = ([self.layout.bos_id] if self.layout.bos_id is not None else []) + body + [self.layout.eos_id]
            rows.append(row + [self.layout.pad_id] * (max_length - len(row)))
        return SimpleNamespace(input_ids=torch.tensor(rows, dtype=torch.long))

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        special = set(self.all_special_ids)
        text = "".join(self._pieces.get(int(i), f"▁<{int(i)}>") for i in ids
                       if not (skip_special_tokens and int(i) in special))
        return text.replace("▁", " ").strip()


def standin_tokenizer(text_cfg: dict[str, Any]) -> HFTokenizer:
    """open_clip's ``HFTokenizer`` for a model's ``text_cfg``, around a stand-in with the same special layout."""
    kwargs = dict(text_cfg.get("tokenizer_kwargs") or {})
    tok = object.__new__(HFTokenizer)  # its __init__ downloads the vocabulary; the rest is open_clip's code
    tok.tokenizer_mode = text_cfg.get("tokenizer_mode") or ""
    tok.context_length = int(text_cfg.get("context_length") or 77)
    tok.clean_fn = get_clean_fn(kwargs.get("clean", "whitespace"))
    tok.strip_sep_token = bool(kwargs.get("strip_sep_token", False))
    tok.tokenizer = StandInPieceTokenizer(LAYOUTS[layout_for(text_cfg["hf_tokenizer_name"])])
    return tok
