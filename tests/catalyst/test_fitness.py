"""Fitness of contexts: the batched path equals scoring one by one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vlcat.catalyst.fitness import PromptScorer
from vlcat.learners.coop import CoOp
from vlcat.learners.reembed import Reembedder

CLASSES = ["red", "green", "blue", "yellow", "dark purple"]


def _features(n=20, dim=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen), torch.arange(n) % len(CLASSES)


@pytest.mark.parametrize("csc", [False, True])
def test_batched_scoring_equals_one_by_one(tiny_clip, csc):
    torch.manual_seed(0)
    learner = CoOp(tiny_clip, CLASSES, n_ctx=4, csc=csc)
    scorer = PromptScorer(learner, _features(), _features(8, seed=1))
    re = Reembedder(tiny_clip.tokenizer, learner.encoder.tower.token_embedding.weight, 4)
    texts = ["a photo of a", "a bright", "an image of the small", "x", "picture"]
    contexts = torch.stack([re.context(t, learner.ctx) for t in texts] + [learner.ctx.detach()])
    batched = scorer.score(contexts)
    single = [scorer.score_one(c) for c in contexts]
    for b, s in zip(batched, single, strict=True):
        assert b.loss == pytest.approx(s.loss, abs=1e-5)
        assert b.acc == s.acc and b.val_acc == s.val_acc
    assert batched[-1].loss == pytest.approx(scorer.score_current().loss, abs=1e-5)
    assert len({round(b.loss, 6) for b in batched}) > 1  # different texts really score differently


def test_fitness_is_the_cross_entropy_of_the_learner_logits(tiny_clip):
    learner = CoOp(tiny_clip, CLASSES, n_ctx=4)
    feats, labels = _features()
    fit = PromptScorer(learner, (feats, labels)).score_current()
    with torch.no_grad():
        logits = learner.logits(feats)
    assert fit.loss == pytest.approx(F.cross_entropy(logits, labels).item(), abs=1e-5)
    assert fit.acc == pytest.approx((logits.argmax(-1) == labels).float().mean().item() * 100)
    assert fit.val_acc is None
