"""Where evaluation results go (a run folder one cannot write: -o DIR, checked before evaluating) and
method labels for single runs (train.method), which the report keeps apart."""

from __future__ import annotations

import json

from vlcat.cli import eval_main
from vlcat.config import load_config
from vlcat.report import make_report
from vlcat.testing import tiny_overrides
from vlcat.train.run import run_training


def _run(tiny_data, tiny_model_file, tmp_path, name, **extra):
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name,
                                               **{"optim.max_epoch": 1, **extra}))
    return run_training(cfg)


def test_eval_writes_where_asked_and_refuses_an_unwritable_target_first(tiny_data, tiny_model_file, tmp_path,
                                                                         capsys):
    _run(tiny_data, tiny_model_file, tmp_path, "run")
    run = tmp_path / "run"
    out = tmp_path / "elsewhere"
    assert eval_main([str(run), "--split", "val", "-o", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(next(out.glob("*.json")).read_text())
    assert written["split"] == printed["split"] == "val"
    assert round(written["metrics"]["accuracy"], 2) == printed["accuracy"]
    assert not (run / "eval").exists() or not list((run / "eval").glob("*_val.json"))

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert eval_main([str(run), "--split", "val", "-o", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write into ") and err.count("\n") == 1 and "-o DIR" in err


def test_single_runs_with_their_own_method_labels_stay_apart_in_the_report(tiny_data, tiny_model_file, tmp_path):
    a = _run(tiny_data, tiny_model_file, tmp_path / "runs", "shared", **{"train.method": "coop-shared"})
    b = _run(tiny_data, tiny_model_file, tmp_path / "runs", "csc", **{"train.method": "coop-csc",
                                                                    "learner.csc": True})
    assert (a["method"], b["method"]) == ("coop-shared", "coop-csc")
    markdown, _, _ = make_report([str(tmp_path / "runs")], "")
    header = next(line for line in markdown.splitlines() if line.startswith("| Dataset"))
    assert "coop-shared" in header and "coop-csc" in header
