"""The prompt layout comes from the tokenizer: start token or not, end token, padding, the period, the class name.

Tokenizers whose vocabulary is only on the Hub are stand-ins with open_clip's special-token layout
(``standin`` in the test names; vlcat/standin_tokenizers.py). Models are tiny configs of the real
families' text towers (width 64, two layers), random weights, built through ``load_clip``.
"""

from __future__ import annotations

import copy
import sys
import time

import open_clip
import pytest
import torch
import torch.nn.functional as F

from vlcat.clip import load_clip
from vlcat.errors import ConfigError, ModelError
from vlcat.learners.cocoop import CoCoOp
from vlcat.learners.coop import CoOp
from vlcat.learners.kgcoop import KgCoOp
from vlcat.learners.layout import context_prompts, token_layout
from vlcat.learners.prograd import ProGrad
from vlcat.learners.reembed import text_token_ids
from vlcat.standin_tokenizers import standin_tokenizer

NAMES = ["cat", "golden retriever", "dog"]
TOL = 1e-5


def _tiny(name: str, **text: object) -> tuple[dict, object]:
    """A registered family's config with its text tower's kind kept and its sizes made tiny."""
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    cfg["text_cfg"].update({"width": 64, "heads": 2, "layers": 2, **text})
    cfg["vision_cfg"] = {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32}
    cfg["embed_dim"] = 32
    if "multimodal_cfg" in cfg:  # CoCa's captioning decoder: unused by prompts, made tiny too
        cfg["multimodal_cfg"].update({"width": 64, "heads": 2, "layers": 1})
    tok = standin_tokenizer(cfg["text_cfg"]) if cfg["text_cfg"].get("hf_tokenizer_name") else None
    return cfg, tok


def _load(name: str, **text: object):
    cfg, tok = _tiny(name, **text)
    torch.manual_seed(0)
    return load_clip(name, model_config=cfg, tokenizer=tok)


@pytest.mark.parametrize("model, start, end, pad, keeps_period", [
    ("ViT-B-32", (49406,), (49407,), 0, True),
    ("ViT-B-16-SigLIP", (), (), 1, False),  # T5: pad = EOS, cleaning drops '.'
    ("ViT-B-16-SigLIP2", (), (1,), 0, False),  # Gemma: no BOS
    ("ViT-L-14-worldwide", (), (1,), 0, False),  # mT5
    ("ViT-H-14-worldwide", (0,), (2,), 1, True),  # XLM-V
    ("ViT-L-14-CLIPA", (101,), (), 0, True),  # BERT, [SEP] stripped to padding
])
def test_layout_is_measured_from_the_tokenizer_standin(model, start, end, pad, keeps_period):
    text_cfg = open_clip.get_model_config(model)["text_cfg"]
    tok = standin_tokenizer(text_cfg) if text_cfg.get("hf_tokenizer_name") else open_clip.get_tokenizer(model)
    layout = token_layout(tok)
    assert (layout.start, layout.end, layout.pad_id, bool(layout.period)) == (start, end, pad, keeps_period)
    prompts = context_prompts(tok, ["golden retriever"], 4)
    row = prompts.token_ids[0].tolist()
    name = text_token_ids(tok, "golden retriever")
    at = len(start) + 4
    assert len(name) > 1 and row[at:at + prompts.name_lens[0]] == name  # every token of the name, first included


def test_siglip_coop_gives_distinct_exact_class_features_standin():
    clip = _load("ViT-B-16-SigLIP", context_length=16)
    enc = CoOp(clip, NAMES, n_ctx=4).encoder
    assert not enc.causal and not enc.can_truncate and not enc.can_share_prefix  # 'last' pooling, bidirectional
    torch.manual_seed(0)
    random = CoOp(clip, NAMES, n_ctx=4)
    feats = F.normalize(random.class_features(), dim=-1)
    assert (feats[0] - feats[2]).abs().max() > 1e-3 and (feats[0] - feats[1]).abs().max() > 1e-3
    worded = CoOp(clip, NAMES, ctx_init="a photo of a")
    ours = F.normalize(worded.class_features(), dim=-1)
    theirs = clip.model.encode_text(clip.tokenizer([f"a photo of a {n}." for n in NAMES]), normalize=True)
    assert (ours - theirs).abs().max() <= TOL
    with pytest.raises(ConfigError, match="lower learner.n_ctx"):
        CoOp(clip, NAMES, n_ctx=14)  # 14 + "golden retriever" (5 pieces) > 16 tokens


@pytest.mark.parametrize("position", ["middle", "front"])
def test_class_positions_without_a_start_token_standin(position):
    clip = _load("ViT-B-16-SigLIP2", context_length=16)
    learner = CoOp(clip, NAMES, n_ctx=4, class_token_position=position)
    emb = learner.prompt_embeddings()
    name = text_token_ids(clip.tokenizer, "golden retriever")
    at = {"middle": 2, "front": 0}[position]
    table = learner.token_embedding
    assert torch.equal(emb[1, at:at + len(name)], table[torch.tensor(name)])


def test_every_context_learner_uses_the_layout_standin():
    clip = _load("ViT-B-16-SigLIP", context_length=16)
    image = torch.randn(3, 32)
    ids = clip.tokenizer([f"a photo of a {n}." for n in NAMES])
    theirs = clip.model.encode_text(ids, normalize=True)
    cocoop = CoCoOp(clip, NAMES, ctx_init="a photo of a")
    with torch.no_grad():
        cocoop.meta_net[-1].weight.zero_()
        cocoop.meta_net[-1].bias.zero_()
        per_image = F.normalize(cocoop.image_class_features(image), dim=-1)
    assert (per_image - theirs).abs().max() <= TOL  # no shift: every image gets the word prompt
    for learner in (KgCoOp(clip, NAMES, ctx_init="a photo of a"),
                    ProGrad(clip, NAMES, init="coop", ctx_init="a photo of a"),
                    ProGrad(clip, NAMES, n_ctx=4, template="a photo of a {}.")):  # the authors' template init
        assert (F.normalize(learner.class_features(), dim=-1) - theirs).abs().max() <= TOL


def test_coca_pools_its_class_embedding_and_masks_padding():
    clip = _load("coca_ViT-B-32")
    assert clip.context_length == 76 and clip.tokenizer.context_length == 76
    learner = CoOp(clip, NAMES, ctx_init="a photo of a")
    assert not learner.encoder.can_truncate and not learner.uses_shared_prefix()
    theirs = clip.model.encode_text(clip.tokenizer([f"a photo of a {n}." for n in NAMES]))
    assert (F.normalize(learner.class_features(), dim=-1) - theirs).abs().max() <= TOL


def test_eos_pooled_causal_tower_keeps_its_fast_paths_exact_standin():
    """mT5 'worldwide': no start token, causal, pooled at the first EOS: truncation and the shared prefix apply."""
    clip = _load("ViT-L-14-worldwide", context_length=24)
    torch.manual_seed(0)
    fast = CoOp(clip, NAMES, n_ctx=4)
    assert fast.n_start == 0 and fast.uses_shared_prefix() and fast.encoder.can_truncate
    full = fast.encoder.forward_full(fast.prompt_embeddings(), fast.pool_idx, fast.token_ids)
    assert (fast.class_features() - full).abs().max() <= TOL
    worded = CoOp(clip, NAMES, ctx_init="a photo of a")
    theirs = clip.model.encode_text(clip.tokenizer([f"a photo of a {n}." for n in NAMES]), normalize=True)
    assert (F.normalize(worded.class_features(), dim=-1) - theirs).abs().max() <= TOL


def test_offline_pretrained_weights_fail_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setenv("HOME", str(tmp_path))  # and no ~/.cache/clip download
    start = time.perf_counter()
    with pytest.raises(ModelError) as err:
        load_clip("ViT-B-32", pretrained="openai")
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE" in msg and "model.checkpoint" in msg


def test_missing_tokenizer_package_is_one_line_import_blocked(monkeypatch):
    """The `transformers` import is made to fail via sys.modules (a machine without the package)."""
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ModelError) as err:
        load_clip("ViT-B-16-SigLIP")
    assert "\n" not in str(err.value) and "pip install transformers" in str(err.value)
