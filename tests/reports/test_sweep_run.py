"""Real sweeps with the tiny model on the tiny dataset: records, resumption, reports, the command line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vlcat.cli.sweeps import base2novel_main, fewshot_main
from vlcat.errors import RunError
from vlcat.report import make_report
from vlcat.sweeps import load_sweep, plan_sweep, run_sweep

pytestmark = pytest.mark.slow


class Stop(Exception):
    """Raised from the progress hook: a real exception that ends the sweep after a run finished."""


def mtimes(out):
    return {p.parent.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("record.json")}


@pytest.fixture(scope="module")
def fewshot(tmp_path_factory, tiny_env, sweep_file):
    """The sweep interrupted after its first run, then run again; both passes are returned for the tests."""
    tmp = tmp_path_factory.mktemp("fewshot")
    out = tmp / "sweep"
    path = sweep_file(tmp / "sweep.yaml", tiny_env, out)
    sweep = load_sweep(path)
    runs = plan_sweep(sweep)
    first: list = []

    def stop_after_first(step):
        first.append(step)
        raise Stop

    with pytest.raises(Stop):
        run_sweep(sweep, runs=runs, on_step=stop_after_first)
    before = mtimes(out)
    second = run_sweep(sweep, runs=runs)
    return {"out": out, "path": path, "sweep": sweep, "first": first, "before": before, "second": second}


def test_interrupted_sweep_resumes_without_redoing(fewshot):
    out, first, second = fewshot["out"], fewshot["first"], fewshot["second"]
    assert [s.action for s in first] == ["trained"]
    assert list(fewshot["before"]) == ["zeroshot/tiny/seed1"]
    assert [(s.run.rel, s.action) for s in second] == [
        ("zeroshot/tiny/seed1", "skipped"), ("zeroshot/tiny/seed2", "trained"),
        ("coop/tiny/shots1_seed1", "trained"), ("coop/tiny/shots1_seed2", "trained"),
        ("coop/tiny/shots2_seed1", "trained"), ("coop/tiny/shots2_seed2", "trained"),
    ]
    assert mtimes(out)["zeroshot/tiny/seed1"] == fewshot["before"]["zeroshot/tiny/seed1"]


def test_records_and_labels(fewshot):
    out = fewshot["out"]
    zs = json.loads((out / "zeroshot/tiny/seed2/record.json").read_text())
    assert (zs["learner"], zs["num_shots"], zs["seed"]) == ("zeroshot", -1, 2)
    coop = json.loads((out / "coop/tiny/shots2_seed1/record.json").read_text())
    assert (coop["learner"], coop["num_shots"], coop["seed"], coop["split_sizes"]["train"]) == ("coop", 2, 1, 8)
    label = json.loads((out / "coop/tiny/shots2_seed1/sweep.json").read_text())
    assert label == {"method": "coop", "dataset": str(fewshot["sweep"].datasets[0]), "shots": 2, "seed": 1,
                     "protocol": "fewshot"}
    assert (out / "sweep.yaml").is_file()


def test_report_of_the_sweep(fewshot):
    out = fewshot["out"]
    markdown, written, problems = make_report([str(out)], str(out / "report"), plots=False)
    assert problems == [] and {p.name for p in written} == {"report.md", "fewshot_1shots.csv", "fewshot_2shots.csv"}
    accs = {k: [json.loads((out / f"{k}seed{s}/record.json").read_text())["metrics"]["test"]["accuracy"]
                for s in (1, 2)] for k in ("zeroshot/tiny/", "coop/tiny/shots2_")}
    expected = [f"{np.mean(v):.2f} ± {np.std(v):.2f}" for v in accs.values()]
    table = markdown.split("### Few-shot accuracy (%), 2 shots")[1]
    assert "| Dataset | zeroshot | coop |" in table
    assert f"| tiny | {expected[0]} | {expected[1]} |" in table
    assert re.search(r"\| \*\*Average\*\* \| [\d.]+ \| [\d.]+ \|", table)


def test_lost_or_broken_record_is_resumed_not_retrained(fewshot):
    out, sweep = fewshot["out"], fewshot["sweep"]
    lost, broken = out / "coop/tiny/shots1_seed2", out / "coop/tiny/shots2_seed1"
    old = json.loads((lost / "record.json").read_text())
    log = (lost / "metrics.jsonl").read_text()
    (lost / "record.json").unlink()
    (broken / "record.json").write_text('{"status": "finis')
    before = mtimes(out)
    steps = run_sweep(sweep)
    assert {s.run.rel: s.action for s in steps if s.action != "skipped"} == {
        "coop/tiny/shots1_seed2": "resumed", "coop/tiny/shots2_seed1": "resumed"}
    after = mtimes(out)
    assert {k for k, v in after.items() if before.get(k) != v} == {"coop/tiny/shots1_seed2", "coop/tiny/shots2_seed1"}
    new = json.loads((lost / "record.json").read_text())
    assert new["metrics"] == old["metrics"] and new["prompt"] == old["prompt"]
    assert (lost / "metrics.jsonl").read_text() == log  # no training step ran again
    assert (broken / "record.json.broken").is_file()


def test_changed_config_stops_before_any_work(fewshot):
    out = fewshot["out"]
    before = mtimes(out)
    sweep = load_sweep(fewshot["path"], run_overrides=["optim.lr=0.5"])
    with pytest.raises(RunError, match=r"different config \(optim.lr: 0.002 -> 0.5\) \(and 5 more run"):
        run_sweep(sweep)
    assert mtimes(out) == before


def test_keys_that_never_change_numbers_do_not_block_a_resume(fewshot):
    """The run and the sweep ask rundir the same question: the LLM endpoint moving to another port, the
    progress display, the workers do not make another run (they did block a sweep's resume)."""
    from vlcat import rundir
    from vlcat.train.run import saved_config

    out = fewshot["out"]
    moved = ["llm.base_url=http://127.0.0.1:9/v1", "train.progress=true", "data.num_workers=2", "llm.timeout=5"]
    lost = out / "coop/tiny/shots1_seed1"
    (lost / "record.json").rename(lost / "record.json.keep")  # one unfinished run: it must resume, not mismatch
    try:
        sweep = load_sweep(fewshot["path"], run_overrides=moved)
        steps = run_sweep(sweep)
    finally:
        if (lost / "record.json.keep").exists():
            (lost / "record.json.keep").replace(lost / "record.json")
    assert {s.run.rel: s.action for s in steps if s.action != "skipped"} == {"coop/tiny/shots1_seed1": "resumed"}
    # the same rule for a single run's --resume, and a key that changes numbers still counts
    cfg = plan_sweep(sweep)[2].config
    assert rundir.config_differences(saved_config(lost), cfg) == []
    cfg.optim.lr = 0.5
    assert rundir.config_differences(saved_config(lost), cfg) == ["optim.lr: 0.002 -> 0.5"]


def test_a_folder_that_never_completed_a_step_is_trained_afresh_by_the_sweep(fewshot):
    """A run that failed before its first step (here: only its config.yaml, from another config) holds
    nothing to continue; the sweep trains it under its own config instead of stopping on a mismatch."""
    import shutil

    out = fewshot["out"]
    sweep = load_sweep(fewshot["path"], ["seeds=[3]", "shots=[1]"])
    (run,) = [r for r in plan_sweep(sweep) if r.method == "coop"]
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "config.yaml").write_text((out / "coop/tiny/shots1_seed1/config.yaml").read_text()
                                             .replace("lr: 0.002", "lr: 0.5"))
    try:
        steps = run_sweep(sweep)
        assert {s.run.rel: s.action for s in steps} == {"zeroshot/tiny/seed3": "trained",
                                                         "coop/tiny/shots1_seed3": "trained"}
        assert "lr: 0.002" in (run.run_dir / "config.yaml").read_text()
    finally:  # leave the module's sweep folder as the other tests expect it
        shutil.rmtree(out / "coop/tiny/shots1_seed3", ignore_errors=True)
        shutil.rmtree(out / "zeroshot/tiny/seed3", ignore_errors=True)


def test_eval_targets_added_to_a_finished_sweep(fewshot, tiny_env):
    """Cross-dataset evaluation: finished runs are kept, only the new evaluation runs, and a table appears."""
    card = tiny_env["card"]
    other = card.with_name("tiny2.yaml")
    other.write_text(card.read_text().replace("name: tiny", "name: tiny2"))
    out = fewshot["out"]
    before = mtimes(out)
    sweep = load_sweep(fewshot["path"], ["seeds=[1]", "shots=[1]", f"eval_targets=[{{dataset: '{other}'}}]"])
    steps = run_sweep(sweep)
    assert [(s.run.rel, s.action, s.evaluated) for s in steps] == [
        ("zeroshot/tiny/seed1", "skipped", ["tiny2_all_test"]),
        ("coop/tiny/shots1_seed1", "skipped", ["tiny2_all_test"])]
    assert mtimes(out) == before
    result = json.loads((out / "coop/tiny/shots1_seed1/eval/tiny2_all_test.json").read_text())
    assert (result["dataset"], result["num_classes"]) == ("tiny2", 4)
    markdown, _, _ = make_report([str(out)])
    table = markdown.split("### Transfer from tiny (%), 1 shot; Average over the targets")[1]
    row = next(line for line in table.splitlines() if line.startswith("| tiny2 |"))
    assert row.split("|")[3].strip() == f"{result['metrics']['accuracy']:.2f} ± 0.00†"  # one seed of two: flagged
    assert [s.evaluated for s in run_sweep(sweep)] == [[], []]  # done once, then skipped


def test_dry_run_lists_states(fewshot, capsys):
    assert fewshot_main(["-c", str(fewshot["path"]), "--dry-run", "seeds=[1,3]"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "finished" and lines[0].endswith("zeroshot/tiny/seed1")
    assert lines[1].split()[0] == "new" and lines[1].endswith("zeroshot/tiny/seed3")


def test_base2novel_cli(tmp_path, tiny_env, sweep_file, capsys):
    path = sweep_file(tmp_path / "b2n.yaml", tiny_env, tmp_path / "b2n", protocol="base2novel", shots=[2],
                      methods=[{"name": "coop"}])
    assert fewshot_main(["-c", str(path)]) == 2
    assert "is a base2novel sweep; run it with vlcat-base2novel" in capsys.readouterr().err
    assert base2novel_main(["-c", str(path), "--report"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.splitlines()[0])
    assert (summary["runs"], summary["trained"]) == (2, 2)
    assert "[2/2] trained  coop/tiny/shots2_seed2_base" in captured.err
    assert "evaluated tiny_novel_test" in captured.err
    run = tmp_path / "b2n/coop/tiny/shots2_seed1_base"
    novel = json.loads((run / "eval/tiny_novel_test.json").read_text())
    assert (novel["subsample"], novel["num_classes"]) == ("novel", 2)
    base = json.loads((run / "record.json").read_text())
    assert (base["subsample"], base["classnames"]) == ("base", ["red", "green"])
    assert novel["metrics"]["per_class_accuracy"].keys() == {"blue", "yellow"}
    # the table's HM is computed from the seed-averaged base and novel accuracies
    b = np.mean([json.loads((tmp_path / f"b2n/coop/tiny/shots2_seed{s}_base/record.json").read_text())
                 ["metrics"]["test"]["accuracy"] for s in (1, 2)])
    n = np.mean([json.loads((tmp_path / f"b2n/coop/tiny/shots2_seed{s}_base/eval/tiny_novel_test.json").read_text())
                 ["metrics"]["accuracy"] for s in (1, 2)])
    hm = 0.0 if b + n == 0 else 2 * b * n / (b + n)
    row = next(line for line in captured.out.splitlines() if line.startswith("| tiny |"))
    assert row.split("|")[-2].strip() == f"{hm:.2f}"
    assert "| Dataset | coop Base | coop Novel | coop HM |" in captured.out
    # a second call finds everything finished: nothing is trained or evaluated again
    assert base2novel_main(["-c", str(path)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["skipped"] == 2
