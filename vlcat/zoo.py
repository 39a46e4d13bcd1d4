"""open_clip's model families, and the check that says whether vlcat's prompt learners are exact on each.

Every name in ``open_clip.list_models()`` belongs to one family (the text tower and tokenizer decide it:
that is what prompt learning touches). :func:`check_family` builds the family's representative through
vlcat's own loader with random weights (no download) and checks, with a CoOp learner:

* **exact**: with the context initialised from "a photo of a", the class features equal open_clip's own
  ``model.encode_text`` of "a photo of a {name}." (normalised, max abs difference <= ``TOL``);
* **distinct**: with a random context, different class names give different features;
* **trains**: one step on random image features has a finite loss and a non-zero context gradient.

A family vlcat cannot prompt must instead be refused by ``load_clip`` in one line (:class:`ModelError`).
The README's family table is rendered from :data:`FAMILIES` by ``tools/zoo_table.py``; the registry test
(``tests/models/test_zoo.py``) runs :func:`check_family` on every family and asserts the table's outcome.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import open_clip
import torch
import torch.nn.functional as F

TOL = 1e-5
#: Registered configs above this estimated size are checked with their text tower cut to two layers of
#: width <= 256 and a tiny image tower (the text tower's kind, vocabulary, tokenizer, pooling and masks
#: unchanged), to keep CI short.
SIZE_CUTOFF_M = 210
NAMES = ["cat", "golden retriever dog", "fire truck"]
INIT = "a photo of a"


@dataclass(frozen=True)
class Family:
    key: str
    title: str
    outcome: str
    """exact | refused"""
    why: str
    """What makes the family different for prompting (exact) or why vlcat refuses it (refused)."""
    standin: bool = False
    """Whether the offline check needs a stand-in tokenizer (the real vocabulary is on the Hub)."""


FAMILIES: dict[str, Family] = {f.key: f for f in [
    Family("vit", "ViT (OpenAI / LAION / DataComp CLIP, incl. -quickgelu)", "exact",
           "CLIP BPE tokenizer, causal mask, pooled at the end token"),
    Family("rn", "ModifiedResNet (RN50 ... RN50x64)", "exact", "CLIP text tower"),
    Family("convnext", "ConvNeXt", "exact", "CLIP text tower, timm image tower"),
    Family("timm", "other timm image towers (swin, vit_medium, vit_relpos)", "exact", "CLIP text tower"),
    Family("eva", "EVA01 / EVA02", "exact", "CLIP text tower"),
    Family("mobileclip", "MobileCLIP / MobileCLIP2", "exact",
           "non-causal text towers in most sizes: full-length path, no truncation or shared prefix"),
    Family("pe", "PE-Core", "exact", "32/72-token context"),
    Family("vitamin", "ViTamin", "exact", "CLIP text tower"),
    Family("siglip", "SigLIP (T5 vocabulary)", "exact",
           "no start token, '.' removed by cleaning, pooled at the last (padding) position, non-causal",
           standin=True),
    Family("siglip-i18n", "SigLIP i18n (mc4 vocabulary)", "exact", "as SigLIP, 250k vocabulary", standin=True),
    Family("siglip2", "SigLIP2 (Gemma vocabulary)", "exact", "as SigLIP, padding id 0", standin=True),
    Family("clipa", "CLIPA (BERT vocabulary)", "exact",
           "[CLS] start, [SEP] stripped to padding, pooled at the last position, non-causal", standin=True),
    Family("coca", "CoCa (built-in text tower)", "exact",
           "class embedding appended after the padding and pooled, padding masked, 76-token context"),
    Family("worldwide-mt5", "worldwide, mT5 vocabulary (ViT-L-14-worldwide)", "exact",
           "no start token, pooled at the first EOS, '.' removed by cleaning", standin=True),
    Family("worldwide-xlmv", "worldwide, XLM-V vocabulary (ViT-H/bigG-14-worldwide)", "exact",
           "<s> start, </s> end, padding id 1, pooled at the first EOS", standin=True),
    Family("hf", "Hugging Face text towers (roberta, xlm-roberta, mT5 encoders, NLLB, coca_roberta)", "refused",
           "the text goes through a transformers model vlcat does not feed embeddings to"),
]}


def family_of(name: str) -> str:
    """The family key of a registered open_clip model name (KeyError for a name no family covers)."""
    text = (open_clip.get_model_config(name) or {}).get("text_cfg") or {}
    hf_tok = str(text.get("hf_tokenizer_name", ""))
    rules = [
        (bool(text.get("hf_model_name")), "hf"),
        (bool(text.get("embed_cls")), "coca"),
        ("SigLIP2" in name, "siglip2"),
        ("SigLIP-i18n" in name, "siglip-i18n"),
        ("SigLIP" in name, "siglip"),
        ("CLIPA" in name, "clipa"),
        ("mt5" in hf_tok, "worldwide-mt5"),
        ("xlm-v" in hf_tok, "worldwide-xlmv"),
        (name.startswith("MobileCLIP"), "mobileclip"),
        (name.startswith("PE-Core"), "pe"),
        (name.startswith("ViTamin"), "vitamin"),
        (name.startswith("EVA"), "eva"),
        (name.startswith("convnext"), "convnext"),
        (name.startswith("RN"), "rn"),
        (name.startswith(("swin_", "vit_")), "timm"),
        (name.startswith("ViT-") and not hf_tok, "vit"),
    ]
    for hit, key in rules:
        if hit:
            return key
    raise KeyError(f"open_clip model '{name}' belongs to no family in vlcat.zoo.FAMILIES; add one")


def estimated_params_m(name: str) -> float:
    """A rough parameter count (millions) from the config alone, to pick each family's smallest member."""
    cfg = open_clip.get_model_config(name) or {}
    text, vision = cfg.get("text_cfg") or {}, cfg.get("vision_cfg") or {}
    tw = int(text.get("width", 512))
    total = int(text.get("vocab_size", 49408)) * tw + int(text.get("layers", 12)) * 12 * tw * tw
    if "timm_model_name" in vision:
        total += 90_000_000
    else:
        layers = vision.get("layers", 12)
        layers = sum(layers) * 3 if isinstance(layers, (list, tuple)) else int(layers)
        vw = int(vision.get("width", 768))
        total += layers * 12 * vw * vw
    return total / 1e6


#: Families whose smallest member the estimate cannot see (timm image towers), or whose interesting member
#: is not the smallest (MobileCLIP-S1: a non-causal text tower, unlike MobileCLIP-B's).
PREFERRED = {"mobileclip": "MobileCLIP-S1", "convnext": "convnext_base", "pe": "PE-Core-T-16-384"}


def representatives() -> dict[str, str]:
    """Family key -> its smallest registered model name (or the :data:`PREFERRED` one)."""
    best: dict[str, tuple[float, str]] = {k: (-1.0, v) for k, v in PREFERRED.items()}
    for name in open_clip.list_models():
        key, size = family_of(name), estimated_params_m(name)
        if key not in best or (size, name) < best[key]:
            best[key] = (size, name)
    return {k: v[1] for k, v in sorted(best.items())}


def shrunk_config(name: str) -> dict[str, Any]:
    """The registered config with the text tower cut to two layers of width <= 256 and a tiny ViT image tower."""
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    text = cfg["text_cfg"]
    width = min(256, int(text.get("width", 512)))  # the XLM-V vocabulary alone is 0.9 B parameters at 1024
    text.update({"layers": min(2, int(text.get("layers", 12))), "width": width, "heads": width // 64})
    cfg["vision_cfg"] = {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32}
    return cfg


@dataclass
class FamilyResult:
    family: str
    model: str
    outcome: str
    """exact | inexact | refused | failed"""
    detail: str = ""
    shrunk: bool = False
    max_diff: float = float("nan")
    distinct: float = float("nan")
    loss: float = float("nan")
    grad_norm: float = float("nan")
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _load(name: str, shrink: bool) -> Any:
    from vlcat.clip import load_clip
    from vlcat.standin_tokenizers import standin_tokenizer

    cfg = open_clip.get_model_config(name) or {}
    text_cfg = cfg.get("text_cfg") or {}
    tok = standin_tokenizer(text_cfg) if text_cfg.get("hf_tokenizer_name") and not text_cfg.get(
        "hf_model_name") else None
    if shrink:
        return load_clip(name, model_config=shrunk_config(name), tokenizer=tok)
    return load_clip(name, tokenizer=tok)


def check_family(key: str, name: str | None = None) -> FamilyResult:
    """Run the module docstring's checks on one family's representative (or on ``name``)."""
    from vlcat.errors import ModelError
    from vlcat.learners.coop import CoOp

    name = name or representatives()[key]
    shrink = estimated_params_m(name) > SIZE_CUTOFF_M
    start = time.perf_counter()
    res = FamilyResult(key, name, "failed", shrunk=shrink)
    torch.manual_seed(0)
    try:
        clip = _load(name, shrink)
    except ModelError as exc:
        res.outcome, res.detail = "refused", str(exc)
        res.seconds = time.perf_counter() - start
        return res
    with torch.no_grad():
        worded = CoOp(clip, NAMES, ctx_init=INIT)
        ours = F.normalize(worded.class_features().float(), dim=-1)
        ids = clip.tokenizer([f"{INIT} {n}." for n in NAMES])
        theirs = F.normalize(clip.model.encode_text(ids).float(), dim=-1)
        res.max_diff = float((ours - theirs).abs().max())
        rand = CoOp(clip, NAMES, n_ctx=4)
        feats = F.normalize(rand.class_features().float(), dim=-1)
        res.distinct = float((feats[0] - feats[1]).abs().max())
        res.extra = {"n_start": worded.n_start, "fast_text": worded.uses_shared_prefix(),
                     "truncates": worded.encoder.can_truncate}
    image = torch.randn(4, ours.shape[-1])
    rand.ctx.requires_grad_(True)
    out = rand.training_loss(image, torch.tensor([0, 1, 2, 0]))
    out.loss.backward()
    res.loss = float(out.loss.detach())
    res.grad_norm = float(rand.ctx.grad.norm()) if rand.ctx.grad is not None else 0.0
    ok = res.max_diff <= TOL and res.distinct > 1e-4 and math.isfinite(res.loss) and res.grad_norm > 0
    res.outcome = "exact" if ok else "inexact"
    res.seconds = time.perf_counter() - start
    return res


TABLE_START = "<!-- zoo-table:start (generated by tools/zoo_table.py from the registry test's checks) -->"
TABLE_END = "<!-- zoo-table:end -->"


def render_table(results: dict[str, FamilyResult]) -> str:
    """The README's markdown table of families, from one :class:`FamilyResult` per family."""
    counts: dict[str, int] = {}
    for name in open_clip.list_models():
        key = family_of(name)
        counts[key] = counts.get(key, 0) + 1
    lines = ["| Family | Models | vlcat | Checked on (random weights) | Why / what differs |",
             "|---|---|---|---|---|"]
    for key, fam in FAMILIES.items():
        res = results[key]
        notes = [n for n, on in (("shrunk", res.shrunk), ("stand-in tokenizer", fam.standin)) if on]
        checked = f"`{res.model}`" + (f" ({', '.join(notes)})" if notes else "")
        verdict = {"exact": f"exact (max diff {res.max_diff:.0e})" if res.max_diff > 0 else "exact (diff 0)",
                   "refused": "refused in one line"}.get(res.outcome, res.outcome)
        lines.append(f"| {fam.title} | {counts.get(key, 0)} | {verdict} | {checked} | {fam.why} |")
    return "\n".join(lines)


def replace_table(readme: str, table: str) -> str:
    """README text with the block between the zoo-table markers replaced by ``table``."""
    head, rest = readme.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}"
