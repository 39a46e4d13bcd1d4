"""The offline benchmark suite: protocols plan from their configs, the learner list is generic, bad input is a
one-line error with exit 2, and a shortened suite runs end to end on the real toy CLIP and generated images."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlcat.bench.suite import (
    PROTOCOLS,
    estimate_seconds,
    load_suite,
    parse_learner,
    suite_cards,
)
from vlcat.cli.bench.offline import suite_main as main
from vlcat.errors import ConfigError
from vlcat.sweeps import plan_sweep
from vlcat.synth.tasks import SHIFTS, TASKS

TINY = ["--data-per-class", "2", "1", "2", "seeds=[1]", "--set", "optim.max_epoch=1", "--no-progress"]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_protocol_plans_offline(protocol: str) -> None:
    sweep = load_suite(protocol)
    runs = plan_sweep(sweep)
    assert {r.method for r in runs} == {"zeroshot", "coop"}
    cards = suite_cards(sweep)
    assert set(cards) <= {t.card for t in [*TASKS.values(), *SHIFTS.values()]}
    if protocol in ("base2novel", "fewshot"):
        assert sorted(sweep.datasets) == sorted(t.card for t in TASKS.values())
    if protocol == "dg":
        assert sorted(t.dataset for t in sweep.eval_targets) == sorted(s.card for s in SHIFTS.values())
    if protocol == "fewshot":
        assert sorted({r.shots for r in runs if r.shots}) == [1, 2, 4, 8, 16]
    assert all(estimate_seconds(r) > 0 for r in runs)
    assert all(r.config.model.name == "vlcat-toy" for r in runs)


def test_learners_are_config_files_plus_overrides(tmp_path: Path) -> None:
    m = parse_learner("coop")
    assert m.name == "coop" and m.configs[0].endswith("configs/learners/coop.yaml") and not m.overrides
    m = parse_learner("lr01=coop optim.lr=0.1 'learner.ctx_init=a drawing of a'")
    assert m.name == "lr01" and m.overrides == ["optim.lr=0.1", "learner.ctx_init=a drawing of a"]
    # A learner someone adds later is a YAML file, no code: here one that moves the class token.
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text("learner:\n  name: coop\n  class_token_position: middle\n")
    sweep = load_suite("base2novel", [str(yaml_file), "zeroshot", "coop8=coop learner.n_ctx=8"],
                       ["datasets=[background]"])
    runs = plan_sweep(sweep)
    assert sweep.datasets == ["synth_backgrounds"]  # task names stand for their cards
    by = {r.method: r.config for r in runs}
    assert by["mine"].learner.class_token_position == "middle"
    assert by["coop8"].learner.n_ctx == 8 and by["zeroshot"].learner.name == "zeroshot"
    with pytest.raises(ConfigError, match="unknown learner 'nope'.*known: .*coop"):
        parse_learner("nope")
    with pytest.raises(ConfigError, match="must look like key=value"):
        parse_learner("coop lr")


@pytest.mark.parametrize("argv, message", [
    (["--suite", "fewshot", "datasets=[synth_nope]"], "unknown offline task 'synth_nope'"),
    (["--suite", "dg", "eval_targets=[{dataset: synth_backgrounds}]"],
     "DG target synth_backgrounds has other classes than its source synth_shapes"),
    (["--suite", "sideways"], "unknown suite protocol 'sideways'"),
    (["--suite", "base2novel", "-l", "no_such_learner"], "unknown learner 'no_such_learner'"),
    (["--suite", "base2novel", "datasets=[imagenet]"], "unknown offline task 'imagenet'"),
    (["--suite", "fewshot", "shots=[one]"], "shots must be a list of integers"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys, tmp_path: Path) -> None:
    assert main([*argv, "--dry-run", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_dry_run_prints_the_estimate_and_plan(capsys, tmp_path: Path) -> None:
    assert main(["--suite", "dg", "-o", str(tmp_path / "dg"), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "6 runs, 6 to do; estimated" in out.err
    assert len(out.out.strip().splitlines()) == 6 and not (tmp_path / "dg").exists()


@pytest.mark.slow
def test_shortened_suite_runs_every_table(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path / "cache"))
    data = ["--data-root", str(tmp_path / "data")]
    rc = main(["--suite", "base2novel", "-o", str(tmp_path / "b2n"), *data, *TINY,
               "datasets=[synth_backgrounds,synth_photo_condition]", "shots=[2]"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "zeroshot Base | zeroshot Novel | zeroshot HM | coop Base" in out.out
    assert "| synth_backgrounds |" in out.out and "| **Average** |" in out.out
    assert "estimated" in out.err
    paired = out.out.split("### Paired against CoOp, per (task, seed)", 1)[1]  # zero-shot against CoOp: 2 tasks, 1 seed
    assert "| zeroshot | HM |" in paired and paired.count("| 2 |") == 1
    written = (tmp_path / "b2n" / "report" / "paired_vs_coop.md").read_text()
    assert written.split("\n\n", 1)[1].strip() == paired.strip()

    rc = main(["--suite", "dg", "-o", str(tmp_path / "dg"), *data, *TINY, "shots=[1]"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "| synth_shapes (source) |" in out.out
    assert all(f"| {s.card} |" in out.out for s in SHIFTS.values())

    rc = main(["--suite", "fewshot", "-o", str(tmp_path / "fs"), *data, *TINY, "shots=[1,2]",
               "datasets=[synth_colour_tint]", "--set", "optim.max_epoch=1"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "1 shot" in out.out and "2 shots" in out.out
    summary = out.out.split("average over the tasks per K")[1]
    assert "| 1 shot |" in summary and "| 2 shots |" in summary and "| zeroshot | coop |" in summary
    # A rerun reuses every finished run and the written datasets.
    rc = main(["--suite", "fewshot", "-o", str(tmp_path / "fs"), *data, *TINY, "shots=[1,2]",
               "datasets=[synth_colour_tint]", "--set", "optim.max_epoch=1"])
    assert rc == 0 and "0 to do" in capsys.readouterr().err
