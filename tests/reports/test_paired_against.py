"""Paired comparison of every learner of one sweep against CoOp, with numbers worked out by hand."""

from __future__ import annotations

from vlcat.bench.compare_sweeps import against


def _cells() -> dict:
    # (method, shots, task, seed) -> accuracies; two tasks x two seeds
    c = {}
    for task in ("a", "b"):
        for seed in (1, 2):
            c[("coop", 16, task, seed)] = {"base": 80.0, "novel": 60.0}  # HM 68.571...
    c[("kgcoop", 16, "a", 1)] = {"base": 70.0, "novel": 70.0}  # HM 70: +1.4286
    c[("kgcoop", 16, "a", 2)] = {"base": 80.0, "novel": 60.0}  # tie
    c[("kgcoop", 16, "b", 1)] = {"base": 60.0, "novel": 60.0}  # HM 60: -8.5714
    c[("kgcoop", 16, "b", 2)] = {"base": 90.0, "novel": 90.0}  # HM 90: +21.4286
    for task, seed, base in (("a", 1, 85.0), ("a", 2, 81.0), ("b", 1, 79.0)):  # no novel; b/2 missing
        c[("linear_probe", 16, task, seed)] = {"base": base}
    return c


def test_pairs_each_learner_with_coop_on_hm_or_on_base() -> None:
    lines = against(_cells()).splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[2:] if line.startswith("| ")}
    assert set(rows) == {"kgcoop", "linear_probe"}
    # kgcoop: diffs +1.4286, 0, -8.5714, +21.4286 -> mean +3.57; 2 wins, 1 tie, 1 loss
    assert "| HM | +3.57 [" in rows["kgcoop"] and "| 2/1/1 (p 1) | 4 |" in rows["kgcoop"]
    # the probe has no novel score: its Base against CoOp's Base, +5 / +1 / -1 on the three pairs it has
    assert "| Base | +1.67 [" in rows["linear_probe"] and "| 2/0/1 (p 1) | 3 |" in rows["linear_probe"]


def test_no_baseline_no_table() -> None:
    cells = {k: v for k, v in _cells().items() if k[0] != "coop"}
    assert against(cells) == ""
