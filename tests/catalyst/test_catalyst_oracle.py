"""The oracle proposer in real tiny runs: the card's hand-written ``domain_prompts`` enter the same parser
and look-ahead race as LLM proposals, under their own source label, and a card without them is refused
before training. No LLM is involved, so nothing here depends on what a model says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlcat.bench.catalyst import plan, read_outcome
from vlcat.catalyst import build_catalyst
from vlcat.catalyst.stage import template_words
from vlcat.config import load_config
from vlcat.errors import ConfigError
from vlcat.testing import tiny_overrides
from vlcat.train.run import prepare_data, run_training

DOMAIN_PROMPTS = ["a drawing of a {}.", "a picture showing a {} thing.", "a close-up photo of a {}."]


def _card_with_prompts(tiny_data, tmp_path: Path) -> Path:
    """The tiny card again (same folder under the same DATA root), with domain prompts added."""
    _, card = tiny_data
    text = Path(card).read_text() + "domain_prompts:\n" + "".join(f"  - '{p}'\n" for p in DOMAIN_PROMPTS)
    out = tmp_path / "tiny_oracle.yaml"
    out.write_text(text.replace("name: tiny\n", "name: tiny_oracle\n"))
    return out


def _cfg(tiny_data, tiny_model_file, tmp_path: Path, name: str, card: Path, **extra):
    root, _ = tiny_data
    return load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name, **{
        "catalyst.enabled": True, "catalyst.epochs": "[1]", "catalyst.snapshots_per_stage": 2,
        "catalyst.proposer": "oracle", "catalyst.policy": "lookahead", "catalyst.race_size": 32,
        "catalyst.lookahead_steps": 1, "optim.max_epoch": 2, **extra}))


def test_oracle_texts_reach_the_race_under_their_own_label(tiny_data, tiny_model_file, tmp_path):
    card = _card_with_prompts(tiny_data, tmp_path)
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "oracle", card)
    assert prepare_data(cfg).domain_prompts == DOMAIN_PROMPTS  # card -> DatasetSplits
    record = run_training(cfg)
    assert record["catalyst"]["proposer"] == "oracle" and record["catalyst"]["stages"] == 1
    stage = json.loads((tmp_path / "oracle" / "llm_stages" / "stage_1.json").read_text())
    assert stage["proposer"] == "oracle"
    expected = [template_words(p, cfg.learner.class_token_position) for p in DOMAIN_PROMPTS]
    assert stage["oracle"] == {"domain_prompts": DOMAIN_PROMPTS, "texts": expected}
    # converted as the template is: the words before the class slot ("a drawing of a")
    assert expected[0] == "a drawing of a"
    u = stage["usable"]
    assert (u["requested"], u["returned"]) == (len(DOMAIN_PROMPTS), len(DOMAIN_PROMPTS))
    assert u["accepted"] + u["rejected"] + u["duplicates"] == u["returned"] and u["accepted"] >= 1
    assert {c["how"] for c in stage["candidates"]} == {"domain prompt"}
    assert {c["text"] for c in stage["candidates"]} <= set(expected)
    starters = stage["decision"]["race"]["starters"]
    oracle_starters = [s for s in starters if s["source"] == "oracle"]
    assert {s["text"] for s in oracle_starters} == {c["text"] for c in stage["candidates"]}
    assert "(oracle, lookahead)" in stage["summary"]
    assert stage["error"] is None
    # the benchmark counts the oracle's proposals and races as it does the LLM's
    outcome = read_outcome(tmp_path / "oracle", "fewshot")
    assert outcome is not None and (outcome.requested, outcome.accepted) == (u["requested"], u["accepted"])
    assert outcome.llm_raced == 1


def test_the_benchmark_has_an_oracle_arm(tmp_path):
    sweep = plan(tmp_path, ["fs4"], ["coop", "lookahead", "oracle"], [1], [])["fs4"]
    oracle = next(m for m in sweep.methods if m.name == "oracle")
    assert oracle.overrides == ["catalyst.proposer=oracle"]
    assert [Path(c).name for c in oracle.configs] == ["coop_catalyst_lookahead.yaml"]


def test_oracle_without_domain_prompts_is_refused_before_training(tiny_data, tiny_model_file, tmp_path):
    _, card = tiny_data  # the tiny card has no domain_prompts
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "refused", Path(card))
    with pytest.raises(ConfigError, match="domain_prompts") as info:
        build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="catalyst.proposer=oracle"):
        run_training(cfg)
    assert not (tmp_path / "refused").exists()
