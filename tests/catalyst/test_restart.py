"""The restart: texts re-embedded into the context slots under the documented length rule."""

from __future__ import annotations

import pytest
import torch

from vlcat.learners.coop import CoOp
from vlcat.learners.decode import NearestTokenDecoder
from vlcat.learners.reembed import Reembedder, place_tokens, text_token_ids


def test_longer_texts_keep_the_tokens_nearest_the_class_name():
    assert place_tokens([1, 2, 3, 4, 5, 6], 4, "end").token_ids == [3, 4, 5, 6]
    assert place_tokens([1, 2, 3, 4, 5, 6], 4, "end").slots == [0, 1, 2, 3]
    assert place_tokens([1, 2, 3, 4, 5, 6], 4, "front").token_ids == [1, 2, 3, 4]
    assert place_tokens([1, 2, 3, 4, 5, 6], 4, "end").total_tokens == 6


def test_shorter_texts_are_aligned_against_the_class_name():
    end = place_tokens([7, 8], 4, "end")
    assert (end.token_ids, end.slots) == ([7, 8], [2, 3])
    front = place_tokens([7, 8], 4, "front")
    assert (front.token_ids, front.slots) == ([7, 8], [0, 1])
    with pytest.raises(ValueError):
        place_tokens([], 4, "end")


def test_token_ids_have_no_start_or_end_tokens(tiny_clip):
    ids = text_token_ids(tiny_clip.tokenizer, "a photo of a")
    assert ids == tiny_clip.tokenizer.encode("a photo of a")
    assert tiny_clip.tokenizer.sot_token_id not in ids and tiny_clip.tokenizer.eot_token_id not in ids
    assert len(text_token_ids(tiny_clip.tokenizer, "word " * 60)) == 60  # not truncated to the context


@pytest.fixture(scope="module")
def parts(tiny_clip):
    table = tiny_clip.model.token_embedding.weight.detach()
    return table, NearestTokenDecoder(table, tiny_clip.tokenizer)


def test_pad_keep_keeps_the_current_vectors_in_free_slots(tiny_clip, parts):
    table, dec = parts
    current = torch.randn(6, table.shape[1])
    re = Reembedder(tiny_clip.tokenizer, table, 6, length_rule="pad_keep")
    ctx = re.context("a photo of a", current)
    ids = tiny_clip.tokenizer.encode("a photo of a")
    assert torch.equal(ctx[:2], current[:2])
    assert torch.equal(ctx[2:], table[ids])
    assert dec.decode(ctx[2:]).token_ids == ids


def test_pad_word_fills_free_slots_with_the_neutral_word(tiny_clip, parts):
    table, _ = parts
    current = torch.randn(6, table.shape[1])
    re = Reembedder(tiny_clip.tokenizer, table, 6, length_rule="pad_word", pad_word="X")
    ctx = re.context("a photo", current)
    x = tiny_clip.tokenizer.encode("X")[0]
    assert torch.equal(ctx[:4], table[x].expand(4, -1))
    assert torch.equal(ctx[4:], table[tiny_clip.tokenizer.encode("a photo")])


def test_front_position_and_long_texts(tiny_clip, parts):
    table, dec = parts
    re = Reembedder(tiny_clip.tokenizer, table, 3, class_token_position="front")
    ctx = re.context("in a bright and sunny room", torch.zeros(3, table.shape[1]))
    assert dec.decode(ctx).text == "in a bright"


def test_class_specific_contexts_get_the_text_in_every_class(tiny_clip, parts):
    table, _ = parts
    current = torch.randn(4, 5, table.shape[1])
    ctx = Reembedder(tiny_clip.tokenizer, table, 5).context("a photo of", current)
    ids = tiny_clip.tokenizer.encode("a photo of")
    for c in range(4):
        assert torch.equal(ctx[c, 2:], table[ids]) and torch.equal(ctx[c, :2], current[c, :2])


def test_set_context_writes_the_learner_and_decodes_back(tiny_clip):
    learner = CoOp(tiny_clip, ["red", "green"], n_ctx=4)
    param = learner.ctx
    re = Reembedder(tiny_clip.tokenizer, learner.encoder.tower.token_embedding.weight, 4)
    learner.set_context(re.context("a close photo of", learner.ctx))
    assert learner.ctx is param  # the optimizer's parameter object is kept
    assert learner.decoder().decode(learner.ctx).text == "a close photo of"
    assert learner.prompt_text() == "a close photo of {}."


def test_unknown_length_rule_is_refused(tiny_clip, parts):
    with pytest.raises(ValueError, match="length rule"):
        Reembedder(tiny_clip.tokenizer, parts[0], 4, length_rule="stretch")
