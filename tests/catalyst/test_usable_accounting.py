"""A stage accounts for every proposal it asked for: usable, rejected, duplicate or never returned.

Fixed reply texts through the real parser (what an LLM says is not under test), and real stage records of
tiny catalyst runs whose proposals come from no LLM (the random control) or from a dead one (a closed
loopback port: nothing returned at all).
"""

from __future__ import annotations

import json
from pathlib import Path

from vlcat.catalyst import build_catalyst  # noqa: F401 - registers the catalyst callback builder
from vlcat.catalyst.console import proposals_text
from vlcat.catalyst.parse import NO_PROMPTS, CandidateParser
from vlcat.catalyst.stage import usable_counts
from vlcat.config import load_config
from vlcat.testing import tiny_overrides
from vlcat.train.run import run_training


def _adds_up(u: dict) -> None:
    assert u["accepted"] + u["rejected"] + u["duplicates"] == u["returned"], u
    assert u["accepted"] + u["rejected"] + u["duplicates"] + u["missing"] == u["requested"] + u["extra"], u
    assert min(u["missing"], u["extra"]) == 0, u


def test_fixed_replies_are_accounted_for_item_by_item():
    parser = CandidateParser(max_chars=60, max_tokens=8, classnames=["red circle"])
    replies = [
        (0, {"prompts": ["a photo of a", "1. a photo of a", "a red circle drawing", "a bright picture"]}, ""),
        (1, None, ""),  # an empty reply: no item, one reply-level rejection
        (2, None, "Here are prompts:\n- a sketch of\n- a photo of a\n- a sketch of"),
    ]
    parsed = parser.parse(replies, seen=["a bright picture"])
    assert parsed.returned == 7 and len(parsed.accepted) == 2  # "a photo of a", "a sketch of"
    rejected = [r.to_dict() for r in parsed.rejected]
    u = usable_counts(12, parsed.returned, len(parsed.accepted), rejected)
    assert (u["accepted"], u["rejected"], u["duplicates"], u["missing"], u["extra"]) == (2, 1, 4, 5, 0)
    assert u["reasons"][NO_PROMPTS] == 1 and u["reasons"]["contains a class name"] == 1
    _adds_up(u)
    assert proposals_text(u) == "12 asked: 2 usable, 1 rejected, 4 duplicates, 5 not returned"


def test_more_items_than_asked_and_items_past_the_cap_are_counted():
    parser = CandidateParser(max_chars=60, max_tokens=8, max_items_per_choice=3)
    texts = ["a photo of", "a drawing of", "a sketch of", "a painting of", "a picture of"]
    parsed = parser.parse([(0, {"prompts": texts}, "")])
    assert parsed.returned == 5 and len(parsed.accepted) == 3
    assert sum(r.reason.startswith("past the first 3 items") for r in parsed.rejected) == 2
    u = usable_counts(4, parsed.returned, len(parsed.accepted), [r.to_dict() for r in parsed.rejected])
    assert (u["rejected"], u["extra"], u["missing"]) == (2, 1, 0)
    _adds_up(u)
    assert proposals_text(u) == "4 asked, 5 returned: 3 usable, 2 rejected"
    assert proposals_text({"requested": 8, "accepted": 5}) == "usable 5/8 proposals"  # an old stage file


def _stages(tiny_data, tiny_model_file, tmp_path: Path, name: str, **catalyst) -> list[dict]:
    root, card = tiny_data
    run = tmp_path / name
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run, **{
        "catalyst.enabled": True, "catalyst.epochs": "[1,2]", "catalyst.snapshots_per_stage": 2, **catalyst}))
    run_training(cfg)
    return [json.loads(p.read_text()) for p in sorted((run / "llm_stages").glob("stage_*.json"))]


def test_real_stage_records_add_up(tiny_data, tiny_model_file, tmp_path):
    random_stages = _stages(tiny_data, tiny_model_file, tmp_path, "random", **{
        "catalyst.proposer": "random", "catalyst.num_candidates": 8})
    dead_stages = _stages(tiny_data, tiny_model_file, tmp_path, "dead", **{
        "catalyst.num_candidates": 4, "catalyst.num_requests": 2, "llm.base_url": "http://127.0.0.1:9/v1",
        "llm.max_retries": 0, "llm.timeout": 5})
    assert len(random_stages) == len(dead_stages) == 2
    for st in random_stages + dead_stages:
        u = st["usable"]
        _adds_up(u)
        assert u["accepted"] == len(st["candidates"])
        items = [r for r in st["rejected"] if r["reason"] != NO_PROMPTS]
        assert u["rejected"] + u["duplicates"] == len(items)
        assert st["summary"].split(": ", 1)[1].startswith(proposals_text(u))
    for st in random_stages:  # the control draws exactly what it was asked for
        assert (st["usable"]["requested"], st["usable"]["returned"], st["usable"]["missing"]) == (8, 8, 0)
    for st in dead_stages:  # nothing came back: every proposal asked for is missing, and the line says so
        u = st["usable"]
        assert (u["requested"], u["returned"], u["missing"], u["accepted"]) == (8, 0, 8, 0)
        assert "8 asked: 0 usable, 8 not returned" in st["summary"]
