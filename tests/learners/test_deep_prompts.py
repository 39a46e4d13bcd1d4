"""Deep prompts (IVLP, MaPLe, VPT-deep; PromptSRC runs IVLP's) against a layer-by-layer version of the authors'
forward.

The reference below is written out from muzairkhattak/multimodal-prompt-learning ``clip/model.py`` with
open_clip's own residual blocks: full-length text prompts, the context's states replaced before every layer
``1 .. J - 1``; vision tokens appended after the patches before ``ln_pre``, replaced before every deeper
layer, the class token pooled through ``ln_post`` and ``proj``. vlcat's learners run the truncated,
shared-prefix text encoder. Logits and the gradients of every trained tensor must agree (fp32, 1e-5).
MaPLe's coupling is checked against its rules written out; the bad inputs are one CLI line each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vlcat.cli import train_main
from vlcat.clip import load_clip
from vlcat.layer_prompts import run_blocks
from vlcat.learners.base import tokenize
from vlcat.learners.ivlp import IVLP
from vlcat.learners.maple import MaPLe
from vlcat.learners.vpt_deep import VPTDeep
from vlcat.testing import TINY_CFG, tiny_overrides, tiny_prompt_depths
from vlcat.train.run import run_training

NAMES = ["red circle", "blue_square", "dog", "green triangle"]
TOL = {"atol": 1e-5, "rtol": 1e-5}
REPO = Path(__file__).resolve().parents[2]

#: A tiny ViT CLIP with 4 layers in each tower, so that depth 3 leaves a layer without a prompt.
DEEP_CFG = {**TINY_CFG, "vision_cfg": {**TINY_CFG["vision_cfg"], "layers": 4},
            "text_cfg": {**TINY_CFG["text_cfg"], "layers": 4}}


@pytest.fixture(scope="module")
def deep_clip():
    torch.manual_seed(0)
    return load_clip("tiny-deep", model_config=DEEP_CFG)


def _loud(learner: torch.nn.Module) -> None:
    """Prompts of the size trained ones reach (N(0, 0.02) barely moves a tiny model's outputs)."""
    with torch.no_grad():
        for name, p in learner.named_parameters():
            if "prompt" in name or name == "deep_ctx":
                p.normal_(0.0, 1.0)


# ----- the reference, written out -----------------------------------------------------------------
def text_reference(clip, ctx: torch.Tensor, deep: torch.Tensor, names: list[str], init: str = "a photo of a"):
    """Full-length prompts "<init> <name>." with slots 1..n of layer 0 = ctx, and of layer i = deep[i - 1]."""
    model = clip.model
    ids = tokenize(clip, [f"{init} {n.replace('_', ' ')}." for n in names])
    n = ctx.shape[0]
    emb = model.token_embedding(ids).float()
    x = torch.cat([emb[:, :1], ctx.expand(len(names), -1, -1), emb[:, 1 + n:]], dim=1)
    x = x + model.positional_embedding
    for i, blk in enumerate(model.transformer.resblocks):
        if 1 <= i <= deep.shape[0]:
            x = torch.cat([x[:, :1], deep[i - 1].expand(len(names), -1, -1), x[:, 1 + n:]], dim=1)
        x = blk(x, attn_mask=model.attn_mask)
    x = model.ln_final(x)
    return x[torch.arange(len(names)), ids.argmax(-1)] @ model.text_projection


def vision_reference(clip, images: torch.Tensor, first: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
    """The authors' VisionTransformer.forward with open_clip's blocks (class-token or average pooling)."""
    v = clip.model.visual
    b, n = images.shape[0], first.shape[0]
    x = v.conv1(images).flatten(2).transpose(1, 2)
    x = torch.cat([v.class_embedding.expand(b, 1, -1), x], dim=1) + v.positional_embedding
    x = v.ln_pre(torch.cat([x, first.expand(b, -1, -1)], dim=1))
    for i, blk in enumerate(v.transformer.resblocks):
        if 1 <= i <= deep.shape[0]:
            x = torch.cat([x[:, :-n], deep[i - 1].expand(b, -1, -1)], dim=1)
        x = blk(x)
    x = v.ln_post(x[:, :-n])
    pooled = x[:, 1:].mean(1) if v.pool_type == "avg" else x[:, 0]
    return pooled @ v.proj


def reference_logits(clip, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    scale = clip.model.logit_scale.exp()
    return scale * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t()


def _images(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def _grads(learner, loss) -> dict[str, torch.Tensor]:
    params = dict(learner.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, grads, strict=True))


def _check(learner, ref_logits: torch.Tensor, images: torch.Tensor) -> None:
    labels = torch.tensor([0, 3, 1])
    ours = learner.logits(images)
    assert torch.allclose(ours, ref_logits, **TOL)
    ga = _grads(learner, F.cross_entropy(ours, labels))
    gb = _grads(learner, F.cross_entropy(ref_logits, labels))
    for k in ga:
        assert ga[k].abs().sum() > 0, f"{k} gets no gradient"
        assert torch.allclose(ga[k], gb[k], atol=1e-5, rtol=1e-4), k


# ----- equations ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fast_text", [True, False])
def test_ivlp_equals_the_layer_by_layer_reference(deep_clip, fast_text):
    learner = IVLP(deep_clip, NAMES, n_ctx=2, n_ctx_vision=3, text_depth=3, vision_depth=4, fast_text=fast_text)
    assert learner.uses_shared_prefix() == fast_text and learner.fixed_text == "of a"
    _loud(learner)
    images = _images()
    txt = text_reference(deep_clip, learner.ctx, learner.deep_ctx, NAMES)
    img = vision_reference(deep_clip, images, learner.vision_prompt.first, learner.vision_prompt.deep)
    plain = text_reference(deep_clip, learner.ctx, learner.deep_ctx[:0], NAMES)
    assert (txt - plain).abs().max() > 1e-2  # the deep prompts change what the reference computes
    _check(learner, reference_logits(deep_clip, img, txt), images)


def test_vpt_deep_equals_the_reference_with_the_fixed_prompt(deep_clip):
    learner = VPTDeep(deep_clip, NAMES, n_ctx_vision=2, depth=3)
    _loud(learner)
    images = _images()
    ids = tokenize(deep_clip, [f"a photo of a {n.replace('_', ' ')}." for n in NAMES])
    with torch.no_grad():
        txt = deep_clip.model.encode_text(ids)
    img = vision_reference(deep_clip, images, learner.vision_prompt.first, learner.vision_prompt.deep)
    _check(learner, reference_logits(deep_clip, img, txt), images)


def test_vision_prompts_are_dropped_before_average_pooling():
    cfg = {**DEEP_CFG, "vision_cfg": {**DEEP_CFG["vision_cfg"], "pool_type": "avg"}}
    torch.manual_seed(0)
    clip = load_clip("tiny-avg", model_config=cfg)
    learner = VPTDeep(clip, NAMES, n_ctx_vision=2, depth=4)
    _loud(learner)
    images = _images()
    ref = vision_reference(clip, images, learner.vision_prompt.first, learner.vision_prompt.deep)
    assert torch.allclose(learner.image_features(images), ref, **TOL)


def test_maple_projects_each_layers_text_prompt_to_its_vision_prompt(deep_clip):
    learner = MaPLe(deep_clip, NAMES, n_ctx=2, depth=3)
    _loud(learner)
    first, deep = learner.vision_prompts()
    # P_v^0 = W_0 P_t^0 + b_0 and P_v^i = W_i P_t^i + b_i, written out
    w0, b0 = learner.proj.weight, learner.proj.bias
    assert torch.allclose(first, learner.ctx @ w0.t() + b0, **TOL)
    assert first.shape == (2, deep_clip.model.visual.class_embedding.shape[0])
    for i, (t, v) in enumerate(zip(learner.deep_ctx, deep, strict=True)):
        wi, bi = learner.deep_proj[i].weight, learner.deep_proj[i].bias
        assert torch.allclose(v, t @ wi.t() + bi, **TOL)
    # the authors' init: the deeper projections are clones of one Linear, the first has its own
    w1, w2 = learner.deep_proj[0].weight, learner.deep_proj[1].weight
    assert torch.equal(w1, w2) and w1.data_ptr() != w2.data_ptr() and not torch.equal(w0, w1)
    images = _images()
    txt = text_reference(deep_clip, learner.ctx, learner.deep_ctx, NAMES)
    img = vision_reference(deep_clip, images, learner.ctx @ w0.t() + b0,
                           torch.stack([t @ p.weight.t() + p.bias for t, p in zip(learner.deep_ctx,
                                                                                   learner.deep_proj, strict=True)]))
    _check(learner, reference_logits(deep_clip, img, txt), images)
    # trained apart: one SGD step moves the two clones differently
    F.cross_entropy(learner.logits(images), torch.tensor([0, 3, 1])).backward()
    with torch.no_grad():
        for p in learner.parameters():
            p -= 0.5 * p.grad
    assert not torch.equal(learner.deep_proj[0].weight, learner.deep_proj[1].weight)


def test_deep_text_prompts_keep_the_fast_paths_exact(deep_clip):
    """Shared prefix, truncation and the plain path give the same features with deep prompts, K prefixes too."""
    learner = IVLP(deep_clip, NAMES, n_ctx=4, text_depth=4, vision_depth=1)
    _loud(learner)
    enc, deep = learner.encoder, learner.deep_ctx
    full = enc.forward_full(learner.prompt_embeddings(), learner.pool_idx, learner.token_ids, deep, 1)
    cut = enc(learner.prompt_embeddings(), learner.pool_idx, learner.token_ids, deep, 1)
    contexts = torch.stack([learner.ctx, learner.ctx.flip(0)])
    shared = enc.forward_shared_prefix(learner.shared_prefixes(contexts), learner.token_suffix,
                                       learner.suffix_pool_idx, learner.token_ids, deep, 1)
    flipped = enc.forward_full(learner.prompt_embeddings(learner.ctx.flip(0)), learner.pool_idx,
                               learner.token_ids, deep, 1)
    assert torch.allclose(cut, full, **TOL) and torch.allclose(shared[0], full, **TOL)
    assert torch.allclose(shared[1], flipped, **TOL)


def test_the_block_loop_runs_a_sequence_first_transformer_as_open_clip_does(deep_clip):
    """open_clip builds some towers with ``batch_first=False`` (sequence first inside the blocks)."""
    import copy

    tower = copy.deepcopy(deep_clip.model.transformer)
    x = torch.randn(3, 10, tower.width)
    deep = torch.randn(2, 2, tower.width)
    mask = deep_clip.model.attn_mask[:10, :10]
    batch_first = run_blocks(tower, x, deep, 1, mask)
    tower.batch_first = False
    for blk in tower.resblocks:
        blk.attn.batch_first = False
    assert torch.allclose(run_blocks(tower, x, deep, 1, mask), batch_first, **TOL)
    assert torch.allclose(run_blocks(tower, x, None, 1, mask), tower(x, attn_mask=mask), **TOL)


# ----- bad input: one line, exit 2, nothing written -----------------------------------------------
RESNET_CFG = {**TINY_CFG, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8}}


def _over(tiny_data, model_file, tmp_path, **extra) -> list[str]:
    root, card = tiny_data
    return tiny_overrides(root, card, model_file, tmp_path / "cache", tmp_path / "run", **extra)


def _one_line(err: str, text: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert text in err, err


@pytest.mark.parametrize("name", ["ivlp", "maple", "vpt_deep", "promptsrc"])
def test_a_model_without_a_vit_image_tower_is_refused(name, tiny_data, tmp_path, capsys):
    model_file = tmp_path / "resnet.json"
    model_file.write_text(json.dumps(RESNET_CFG))
    rc = train_main(["-c", str(REPO / "configs" / "learners" / f"{name}.yaml")]
                    + _over(tiny_data, model_file, tmp_path, **{"learner.n_ctx": 2}))
    _one_line(capsys.readouterr().err, f"learner '{name}' puts prompt tokens into a ViT image tower, and this "
                                       "model's image tower is a ModifiedResNet")
    assert rc == 2 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, key, value, text", [
    ("ivlp", "learner.ivlp.vision_depth", 3, "learner.ivlp.vision_depth=3 is beyond the image tower's 2 layers"),
    ("ivlp", "learner.ivlp.text_depth", 4, "learner.ivlp.text_depth=4 is beyond the text tower's 3 layers"),
    ("maple", "learner.maple.depth", 3, "learner.maple.depth=3 is beyond the image tower's 2 layers"),
    ("maple", "learner.maple.depth", 4, "learner.maple.depth=4 is beyond the text tower's 3 layers"),
    ("vpt_deep", "learner.vpt_deep.depth", 0, "learner.vpt_deep.depth=0 must be at least 1 (the layer-0 prompt)"),
    ("promptsrc", "learner.promptsrc.vision_depth", 3,
     "learner.promptsrc.vision_depth=3 is beyond the image tower's 2 layers"),
    ("maple", "learner.n_ctx", 5, "has 4 token(s); with learner.ctx_init_length=n_ctx, learner.n_ctx must be 1..4"),
])
def test_a_prompt_depth_beyond_the_tower_is_refused(name, key, value, text, tiny_data, tiny_model_file, tmp_path,
                                                    capsys):
    rc = train_main(["-c", str(REPO / "configs" / "learners" / f"{name}.yaml")] + _over(
        tiny_data, tiny_model_file, tmp_path, **{"learner.n_ctx": 2, **tiny_prompt_depths(name), key: value}))
    _one_line(capsys.readouterr().err, text)
    assert rc == 2 and not (tmp_path / "run").exists()


# ----- the trainer with a pixel learner -------------------------------------------------------------
def test_a_pixel_learner_caches_no_features_and_selects_on_validation_images(tiny_data, tiny_model_file, tmp_path):
    """Training and evaluation feed images (no feature file is written), and validation selection scores the
    learner on un-augmented validation images through its own predict."""
    root, card = tiny_data
    from vlcat.config import CONFIG_DIR, load_config

    cfg = load_config([CONFIG_DIR / "learners" / "vpt_deep.yaml"], tiny_overrides(
        root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run", **{
            "learner.vpt_deep.depth": 2, "optim.max_epoch": 2, "optim.warmup_epoch": 0,
            "train.select_best_val": True, "train.eval_splits": "[test]"}))
    record = run_training(cfg)
    assert [s["epoch"] for s in record["selection"]["per_epoch"]] == [1, 2]
    assert 0 <= record["metrics"]["test"]["accuracy"] <= 100
    assert not (tmp_path / "cache" / "features").exists()


# ----- the step benchmark -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ivlp", "maple", "vpt_deep", "promptsrc"])
def test_the_step_bench_times_both_paths_on_the_same_numbers(name, deep_clip):
    """tools/bench_train_step.py: the full-length reference step and vlcat's give the same logits, and the
    prompted image tower is timed alone."""
    from vlcat.bench.train_step import bench_one

    r = bench_one(name, deep_clip, n_classes=6, batch=2, n_ctx=2, repeats=0)
    assert r["diff"] < 1e-4 and r["ref"].logits.shape == (2, 6)
    assert r["tower"].seconds > 0 and r["fast"].saved_mb > 0
    if name == "vpt_deep":  # a fixed text prompt: both paths are the same computation
        assert r["diff"] == 0.0
    else:  # full-length text keeps more for the backward pass than the truncated shared-prefix one
        assert r["ref"].saved_mb > r["fast"].saved_mb


@pytest.mark.parametrize("name", ["ivlp", "maple", "vpt_deep", "promptsrc"])
def test_no_open_clip_classifier_is_exported_for_a_prompted_image_tower(name):
    from vlcat.interop.export import ExportError, check_exportable

    with pytest.raises(ExportError, match=f"learner {name} runs the image tower with prompts of its own"):
        check_exportable(name)
