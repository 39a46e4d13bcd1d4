"""Nearest-token decoding: exact embeddings come back as their tokens; the least similar never wins."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vlcat.learners.decode import NearestTokenDecoder, special_token_ids


@pytest.fixture(scope="module")
def table(tiny_clip):
    return tiny_clip.model.token_embedding.weight.detach()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_exact_and_perturbed_embeddings_decode_to_their_tokens(tiny_clip, table, metric):
    dec = NearestTokenDecoder(table, tiny_clip.tokenizer, metric)
    ids = tiny_clip.tokenizer.encode("a photo of a bright shape")
    out = dec.decode(table[ids])
    assert out.token_ids == ids
    assert out.text == "a photo of a bright shape"
    if metric == "cosine":
        assert out.similarities == pytest.approx([1.0] * len(ids), abs=1e-5)
    gen = torch.Generator().manual_seed(0)
    noisy = table[ids] + 0.1 * table[ids].norm(dim=-1, keepdim=True) * F.normalize(
        torch.randn(len(ids), table.shape[1], generator=gen), dim=-1)
    assert dec.decode(noisy).token_ids == ids


def test_the_least_similar_token_is_never_chosen(tiny_clip, table):
    dec = NearestTokenDecoder(table, tiny_clip.tokenizer, "cosine")
    specials = special_token_ids(tiny_clip.tokenizer)
    valid = torch.tensor([i for i in range(table.shape[0]) if i not in specials])
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(6, table.shape[1], generator=gen)
    sims = F.normalize(vectors, dim=-1) @ F.normalize(table[valid], dim=-1).t()
    ids, best = dec.nearest(vectors)
    assert ids.tolist() == valid[sims.argmax(-1)].tolist()
    assert (ids != valid[sims.argmin(-1)]).all()
    assert torch.allclose(best, sims.max(-1).values, atol=1e-6)
    # a token's own negation is its least similar direction: decoding it must not return that token
    tok = tiny_clip.tokenizer.encode("photo")[0]
    assert dec.decode(-table[tok:tok + 1]).token_ids != [tok]


def test_special_tokens_are_never_decoded(tiny_clip, table):
    dec = NearestTokenDecoder(table, tiny_clip.tokenizer, "cosine")
    tok = tiny_clip.tokenizer
    out = dec.decode(table[[tok.sot_token_id, tok.eot_token_id, 0]])
    assert not set(out.token_ids) & {tok.sot_token_id, tok.eot_token_id, 0}


def test_unknown_metric_is_refused(tiny_clip, table):
    with pytest.raises(ValueError, match="metric"):
        NearestTokenDecoder(table, tiny_clip.tokenizer, "dot")
