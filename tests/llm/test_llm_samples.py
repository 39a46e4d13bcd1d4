"""Several samples in one request, against the REAL vLLM server (SmolLM2, session fixture ``llm_server``):
a stage's ``num_requests`` samples cost one HTTP request and one prefill, counted by the client itself,
and the stage record still holds one reply per sample. Mechanics only, never what the model says."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlcat.catalyst.endpoint import Endpoint
from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo
from vlcat.catalyst.parse import CandidateParser
from vlcat.catalyst.proposers import LLMProposer, ProposalSettings
from vlcat.llm.serve import ServerConfig

pytestmark = pytest.mark.llm


def test_one_request_with_n_3_returns_3_choices_and_is_cached_per_n(client, pet_messages, pet_schema):
    assert "--enable-prefix-caching" in ServerConfig(model="m").command(Path("python"), 8000)
    result = client.complete(pet_messages, n=3, seed=11, temperature=0.8, max_tokens=60, schema=pet_schema)
    assert len(result.choices) == 3 and [c.index for c in result.choices] == [0, 1, 2]
    assert client.http_requests == 1 and client.cache_hits == 0 and not result.cached
    again = client.complete(pet_messages, n=3, seed=11, temperature=0.8, max_tokens=60, schema=pet_schema)
    assert again.cached and again.texts == result.texts and client.http_requests == 1 and client.cache_hits == 1
    fewer = client.complete(pet_messages, n=2, seed=11, temperature=0.8, max_tokens=60, schema=pet_schema)
    assert not fewer.cached and len(fewer.choices) == 2 and client.http_requests == 2  # n is in the cache key


def test_a_stage_asks_its_samples_in_one_request_and_records_each(llm_server, client):
    task = TaskInfo("coloured shapes", 4, ["red circle"], "end", 4)
    parser = CandidateParser(max_chars=72, max_tokens=8, classnames=["red circle", "blue star"])
    settings = ProposalSettings(num_candidates=2, num_requests=3, temperature=0.7, max_tokens=64, max_words=8,
                                meta_prompt="variations")
    endpoint = Endpoint(llm_server.url, client.model, "config", client=client)
    props = LLMProposer(endpoint, task, parser, settings).propose(
        [ScoredText("a photo of a", Fitness(1.0, 50.0), "template")], ["a photo of a"], seed=5)
    assert props.error is None and client.http_requests == 1
    assert len(props.record["replies"]) == 3 and props.requested == 6
    assert [r["index"] for r in props.record["replies"]] == [0, 1, 2]
