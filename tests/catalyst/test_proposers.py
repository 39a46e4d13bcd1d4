"""The proposal controls: the random proposer (no LLM) and the empty one, through the real parser."""

from __future__ import annotations

from vlcat.catalyst.parse import CandidateParser
from vlcat.catalyst.proposers import NoProposer, RandomProposer, vocabulary_words
from vlcat.learners.decode import NearestTokenDecoder
from vlcat.learners.reembed import text_token_ids

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "red", "circle", "photo"]


def _parser(classnames=("red circle",)):
    return CandidateParser(max_chars=60, max_tokens=8, classnames=list(classnames))


def test_random_proposals_are_deterministic_per_seed_and_private():
    import random

    import torch

    prop = RandomProposer(WORDS, 4, _parser(), count=8)
    state = (random.getstate(), torch.get_rng_state())
    a = prop.propose([], [], seed=3, snapshots=["a photo of a", "stars yellow green cross"])
    b = prop.propose([], [], seed=3, snapshots=["a photo of a", "stars yellow green cross"])
    c = prop.propose([], [], seed=4, snapshots=["a photo of a", "stars yellow green cross"])
    assert random.getstate() == state[0] and torch.equal(torch.get_rng_state(), state[1])
    assert [x.text for x in a.accepted] == [x.text for x in b.accepted]
    assert a.record["random"]["drawn"] != c.record["random"]["drawn"]
    assert a.requested == 8 and len(a.record["random"]["drawn"]) == 8
    hows = a.record["random"]["how"]
    assert hows.count("random words") == 4 and hows.count("mutated snapshot") == 4
    for text, how in zip(a.record["random"]["drawn"], hows, strict=True):
        assert len(text.split()) == 4 or how == "mutated snapshot"
    # the same filters as LLM proposals: class names and texts already scored are dropped
    assert all("red circle" not in x.text for x in a.accepted)
    drawn = a.record["random"]["drawn"]
    again = prop.propose([], seen=drawn[:3], seed=3, snapshots=["a photo of a", "stars yellow green cross"])
    assert not {x.text for x in again.accepted} & set(drawn[:3])
    assert len(again.accepted) + len(again.rejected) == 8


def test_no_proposer_proposes_nothing():
    out = NoProposer().propose([], [], seed=0)
    assert out.accepted == [] and out.error is None and out.requested == 0


def test_vocabulary_words_are_whole_single_token_words(tiny_clip):
    table = tiny_clip.model.token_embedding.weight
    decoder = NearestTokenDecoder(table, tiny_clip.tokenizer)
    words = vocabulary_words(decoder, lambda t: text_token_ids(tiny_clip.tokenizer, t), limit=50, seed=0)
    assert len(words) == 50 and len(set(words)) == 50
    assert all(w.isalpha() and len(text_token_ids(tiny_clip.tokenizer, w)) == 1 for w in words)
    assert words == vocabulary_words(decoder, lambda t: text_token_ids(tiny_clip.tokenizer, t), limit=50, seed=0)
