"""ProGrad's template init as the authors lay it out, its refusals, and the projection share it logs."""

from __future__ import annotations

import json

import pytest
import torch

from vlcat.config import load_config
from vlcat.errors import ConfigError
from vlcat.learners.base import tokenize
from vlcat.learners.prograd import ProGrad
from vlcat.testing import tiny_overrides
from vlcat.train.run import run_training

NAMES = ["red circle", "blue square", "dog"]


def test_tokens_mode_learns_every_token_of_the_words(tiny_clip):
    words = "a type of pet, a photo of a"
    ids = tokenize(tiny_clip, [words])[0]
    n_tok = int(ids.argmax()) - 1  # 9: the comma is a token of its own
    learner = ProGrad(tiny_clip, NAMES, n_ctx=12, template=words + " {}.", init_length="tokens")
    with torch.no_grad():
        expected = torch.zeros(12, 64)
        expected[12 - n_tok:] = tiny_clip.model.token_embedding(ids[None])[0, 1:1 + n_tok]
    assert torch.equal(learner.ctx.detach(), expected)
    assert learner.fixed_text == "" and learner.prompt_text().endswith(" {}.")


def test_words_and_tokens_agree_when_every_word_is_one_token(tiny_clip):
    a = ProGrad(tiny_clip, NAMES, n_ctx=6, template="a photo of a {}.", init_length="words")
    b = ProGrad(tiny_clip, NAMES, n_ctx=6, template="a photo of a {}.", init_length="tokens")
    assert torch.equal(a.ctx, b.ctx) and a.fixed_text == b.fixed_text == ""


@pytest.mark.parametrize(("template", "n_ctx", "init_length", "message"), [
    ("a type of pet, a photo of a {}.", 6, "words",
     r"has 8 words before its class name but learner.n_ctx=6; set learner.n_ctx to at least 8"),
    ("a type of pet, a photo of a {}.", 8, "tokens",
     r"has 9 tokens before its class name but learner.n_ctx=8; set learner.n_ctx to at least 9"),
    ("{} texture.", 16, "words", r"has words after it; use learner.prograd.templates=paper"),
    ("a photo of a {}, a type of pet.", 16, "words", r"ends with its class name"),
    ("{}.", 16, "words", r"has no words before its class name"),
])
def test_templates_that_cannot_be_laid_out_are_refused_in_one_line(tiny_clip, template, n_ctx, init_length,
                                                                   message):
    with pytest.raises(ConfigError, match=message) as err:
        ProGrad(tiny_clip, NAMES, n_ctx=n_ctx, template=template, init_length=init_length)
    assert "\n" not in str(err.value)


def test_unknown_init_length_is_one_line():
    with pytest.raises(ConfigError, match=r"learner.prograd.init_length='letters' is not one of: words, tokens"):
        load_config(overrides=["learner.name=prograd", "learner.prograd.init_length=letters"])


def test_projection_share_is_logged_per_epoch(tiny_data, tiny_model_file, tmp_path):
    root, card = tiny_data
    out = tmp_path / "run"
    cfg = load_config(["learners/prograd.yaml"], tiny_overrides(
        root, card, tiny_model_file, tmp_path / "cache", out, **{"learner.n_ctx": 8, "optim.max_epoch": 2,
                                                                 "train.log_every": 1}))
    run_training(cfg)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in lines if r["type"] == "step"]
    epochs = [r for r in lines if r["type"] == "epoch"]
    assert len(epochs) == 2 and all(s["projected"] in (0.0, 1.0) for s in steps)
    for e in epochs:
        mine = [s["projected"] for s in steps if s["epoch"] == e["epoch"]]
        assert e["projected"] == pytest.approx(sum(mine) / len(mine))
        assert {"ce", "kd"} <= set(e)
