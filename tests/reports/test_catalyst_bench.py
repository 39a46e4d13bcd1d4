"""The paired statistics of the catalyst benchmark."""

from __future__ import annotations

import math

import pytest

from vlcat.bench.catalyst import RunOutcome, _paired, plan, t_interval
from vlcat.errors import ConfigError


def test_t_interval_matches_the_textbook():
    mean, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd 1.291, t(0.975, 3) = 3.182 -> half width 2.054
    assert mean == 2.5 and lo == pytest.approx(0.446, abs=1e-3) and hi == pytest.approx(4.554, abs=1e-3)
    m, lo1, hi1 = t_interval([0.7])
    assert m == 0.7 and math.isnan(lo1) and math.isnan(hi1)


def test_pairs_are_made_by_seed_and_counted():
    def outs(values):
        return {s: RunOutcome(s, v, {}, 1.0, 0.0) for s, v in values.items()}

    a = outs({1: 70.0, 2: 71.0, 3: 69.0, 4: 80.0})
    b = outs({1: 69.0, 2: 71.0, 3: 70.0})  # seed 4 has no pair: left out
    row = _paired(a, b)
    assert row.startswith("| +0.00 |") and row.endswith("| 1/1/1 (p 1) |")


def test_the_sign_test_is_exact():
    from vlcat.bench.catalyst import sign_test

    assert sign_test(7, 0) == pytest.approx(2 * 0.5 ** 7)
    assert sign_test(1, 1) == 1.0


def test_the_plan_refuses_unknown_names_and_needs_coop(tmp_path):
    with pytest.raises(ConfigError):
        plan(tmp_path, ["b2n99"], ["coop"], [1], [])
    with pytest.raises(ConfigError):
        plan(tmp_path, ["b2n16"], ["lookahead"], [1], [])
    sweeps = plan(tmp_path, ["b2n16", "fs1"], ["coop", "random"], [1, 2], [])
    assert sweeps["b2n16"].protocol == "base2novel" and sweeps["fs1"].shots == [1]
    assert "optim.batch_size=8" in sweeps["fs1"].overrides


def test_several_datasets_are_one_sweep_and_pool_their_pairs(tmp_path):
    from vlcat.bench.catalyst import _table

    sweeps = plan(tmp_path, ["fs4"], ["coop", "lookahead"], [1, 2], [], datasets=["synth_shapes", "synth_backgrounds"])
    assert sweeps["fs4"].datasets == ["synth_shapes", "synth_backgrounds"]
    with pytest.raises(ConfigError):
        plan(tmp_path, ["fs4"], ["coop"], [1], [], datasets=[])
    # pooled pairs are (dataset, seed): the same seed on two datasets is two pairs
    def out(acc, total, stage):
        return RunOutcome(1, acc, {"acc": acc}, total, stage)

    coop = {("a", 1): out(60.0, 1.0, 0.0), ("b", 1): out(50.0, 1.0, 0.0)}
    look = {("a", 1): out(61.0, 2.0, 0.5), ("b", 1): out(50.0, 2.0, 0.5)}
    lines = _table("### t", "fewshot", ["coop", "lookahead"], {"coop": coop, "lookahead": look})
    row = next(x for x in lines if x.startswith("| lookahead"))
    assert "| 2 | 55.50 ± 7.78 | +0.50 |" in row and "| 1/1/0 (p 1) |" in row and "25.0 % (0.0 %)" in row


def test_race_notes_summarise_the_stage_logs():
    from collections import Counter

    from vlcat.bench.catalyst import _race_notes

    a = RunOutcome(1, 60.0, {}, 10.0, 3.0, steps_s=5.0, gaps=[6.0, -4.0], llm_raced=1, requests_s=[1.0, 3.0],
                   winners=Counter({"current": 1, "llm": 1}))
    b = RunOutcome(2, 61.0, {}, 10.0, 3.0, steps_s=7.0, gaps=[2.0], requests_s=[2.0], winners=Counter({"current": 1}))
    (line,) = _race_notes(["lookahead"], {"lookahead": {1: a, 2: b}})[1:]
    assert line == ("- lookahead: training steps 6.0 s a run (median); after the look-ahead the current context is "
                    "+2.0 validation points from the finalist text (median of 3 races; + = ahead); leads by "
                    "4.0-4.0 in the 1 it led; LLM texts started 1 races and won 1; LLM request 2.00 s (median of "
                    "3 uncached).")
    assert _race_notes(["coop"], {}) == []


def test_an_llm_arm_whose_llm_failed_is_refused_not_tabulated(tmp_path):
    """An arm must run as specified: its LLM runs require the endpoint, and a run with LLM-error stages
    turns the arm's row into a refusal naming the run folders to delete."""
    from vlcat.bench.catalyst import _table

    sweeps = plan(tmp_path, ["fs4"], ["coop", "lookahead", "random"], [1, 2], [])
    methods = {m.name: m for m in sweeps["fs4"].methods}
    assert "llm.required=true" in methods["lookahead"].overrides
    assert "llm.required=true" not in methods["random"].overrides  # the controls ask no LLM
    coop = {1: RunOutcome(1, 60.0, {"acc": 60.0}, 1.0, 0.0), 2: RunOutcome(2, 50.0, {"acc": 50.0}, 1.0, 0.0)}
    look = {1: RunOutcome(1, 61.0, {"acc": 61.0}, 2.0, 0.5),
            2: RunOutcome(2, 50.0, {"acc": 50.0}, 2.0, 0.5, llm_errors=2, run_dir="runs/x/lookahead_2")}
    rand = {1: RunOutcome(1, 60.0, {"acc": 60.0}, 2.0, 0.5), 2: RunOutcome(2, 51.0, {"acc": 51.0}, 2.0, 0.5)}
    lines = _table("### t", "fewshot", ["coop", "lookahead", "random"],
                   {"coop": coop, "lookahead": look, "random": rand})
    row = next(x for x in lines if x.startswith("| lookahead"))
    assert "refused: 2 LLM-error stage(s) in 1 run(s)" in row and "runs/x/lookahead_2" in row
    assert "+" not in row.split("refused")[0]  # no paired difference printed for it
    assert not any(x.startswith("\nlookahead − random") for x in lines)
