"""CoOp's options: context init, CSC, class positions, trainable parameters, the decoded prompt."""

from __future__ import annotations

import pytest
import torch

from vlcat.errors import ConfigError
from vlcat.learners.coop import CoOp
from vlcat.learners.zeroshot import ZeroShotCLIP

NAMES = ["red circle", "blue_square", "dog"]


def test_init_from_words_decodes_back(tiny_clip):
    learner = CoOp(tiny_clip, NAMES, n_ctx=4, ctx_init="a photo of a")
    assert learner.n_ctx == 4
    assert learner.prompt_text() == "a photo of a {}."
    assert [n for n, p in learner.named_parameters() if p.requires_grad] == ["ctx"]
    assert set(learner.trainable_state()) == {"ctx"}


def test_random_init_and_csc_shapes(tiny_clip):
    torch.manual_seed(0)
    unified = CoOp(tiny_clip, NAMES, n_ctx=8)
    csc = CoOp(tiny_clip, NAMES, n_ctx=8, csc=True)
    assert unified.ctx.shape == (8, 64) and csc.ctx.shape == (3, 8, 64)
    assert abs(float(unified.ctx.detach().std()) - 0.02) < 0.01
    assert unified.class_features().shape == (3, 32)


def test_underscores_in_class_names_become_spaces(tiny_clip):
    learner = CoOp(tiny_clip, NAMES, n_ctx=2)
    ids = tiny_clip.tokenizer(["X X blue square."])[0]
    assert torch.equal(learner.token_ids[1], ids)


def test_positions_put_the_class_where_asked(tiny_clip):
    torch.manual_seed(0)
    for pos in ("end", "middle", "front"):
        learner = CoOp(tiny_clip, NAMES, n_ctx=4, class_token_position=pos)
        emb = learner.prompt_embeddings()
        cls = tiny_clip.model.token_embedding(tiny_clip.tokenizer(["dog"]))[0, 1]
        where = {"end": 5, "middle": 3, "front": 1}[pos]
        assert torch.allclose(emb[2, where], cls)
        assert learner.prompt_text().count("{}") == 1


def test_bad_options(tiny_clip):
    with pytest.raises(ConfigError):
        CoOp(tiny_clip, NAMES, class_token_position="top")
    with pytest.raises(ConfigError, match="lower learner.n_ctx"):
        CoOp(tiny_clip, NAMES, n_ctx=40)


def test_zero_shot_ensemble_averages_normalised_features(tiny_clip):
    single = [ZeroShotCLIP(tiny_clip, NAMES, [t]).class_features() for t in ("a photo of a {}.", "a {}.")]
    both = ZeroShotCLIP(tiny_clip, NAMES, ["a photo of a {}.", "a {}."]).class_features()
    assert torch.allclose(both, (single[0] + single[1]) / 2, atol=1e-6)
    assert list(ZeroShotCLIP(tiny_clip, NAMES, ["{}"]).parameters()) == []
