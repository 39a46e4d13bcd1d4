"""The fast text encoder must give the same features (and gradients) as the plain full-length one."""

from __future__ import annotations

import pytest
import torch

from vlcat.learners.coop import CoOp
from vlcat.text_encoder import TextEncoder

NAMES = ["red circle", "blue square", "a rather long class name with many words", "dog", "x"]
TOL = 1e-5


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("csc", [False, True])
def test_fast_equals_full_length(tiny_clip, position, csc):
    torch.manual_seed(1)
    learner = CoOp(tiny_clip, NAMES, n_ctx=6, csc=csc, class_token_position=position)
    reference = learner.encoder.forward_full(learner.prompt_embeddings(), learner.pool_idx)
    fast = learner.class_features()
    assert learner.uses_shared_prefix() == (position == "end" and not csc)
    assert torch.allclose(fast, reference, atol=TOL, rtol=0), (fast - reference).abs().max()


def test_forward_full_is_open_clip_encode_text(tiny_clip):
    ids = tiny_clip.tokenizer(["a photo of a dog.", "itap of a red circle."])
    enc = TextEncoder(tiny_clip.model)
    emb = tiny_clip.model.token_embedding(ids)
    ours = enc.forward_full(emb, enc.pool_index(ids))
    theirs = tiny_clip.model.encode_text(ids)
    assert torch.allclose(ours, theirs, atol=TOL, rtol=0)
    assert torch.allclose(enc(emb, enc.pool_index(ids)), theirs, atol=TOL, rtol=0)


def test_gradients_match_full_length(tiny_clip):
    torch.manual_seed(2)
    fast = CoOp(tiny_clip, NAMES, n_ctx=4)
    slow = CoOp(tiny_clip, NAMES, n_ctx=4, fast_text=False)
    slow.ctx.data.copy_(fast.ctx.data)
    image = torch.randn(7, 32)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    for learner in (fast, slow):
        torch.nn.functional.cross_entropy(learner.logits(image), labels).backward()
    assert fast.uses_shared_prefix() and not slow.uses_shared_prefix()
    assert torch.allclose(fast.ctx.grad, slow.ctx.grad, atol=1e-5, rtol=1e-4)


def test_batched_contexts_equal_one_by_one(tiny_clip):
    learner = CoOp(tiny_clip, NAMES, n_ctx=5)
    contexts = torch.randn(3, 5, 64) * 0.05
    batched = learner.batched_class_features(contexts)
    for k in range(3):
        one = learner.encoder.forward_full(learner.prompt_embeddings(contexts[k]), learner.pool_idx)
        assert torch.allclose(batched[k], one, atol=TOL, rtol=0)


def test_truncation_is_used(tiny_clip):
    enc = TextEncoder(tiny_clip.model)
    assert enc.causal and enc.can_truncate and enc.can_share_prefix
