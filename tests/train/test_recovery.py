"""Recovery (issue 21, point 6): a run that never completed a step is rerun without ``--overwrite``, classes
left without validation or test images are named, a linear probe scores the subset of its classes it was
asked for.

Real tiny trainings on real PNG trees, through the real command-line entry points.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vlcat import rundir
from vlcat.cli import eval_main, train_main
from vlcat.learners.base import LearnerStateError
from vlcat.learners.linear_probe import LinearProbe
from vlcat.testing import assert_one_line_error, tiny_run
from vlcat.train.checkpoint import load_checkpoint


def _tree(tiny_data, where: Path, classes=("red", "green", "blue")) -> Path:
    root, _ = tiny_data
    for name in classes:
        shutil.copytree(root / "tiny" / "images" / name, where / name)
    return where


def test_what_counts_as_a_completed_step(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / rundir.CONFIG).write_text("{}")
    (run / rundir.METRICS).write_text("")  # what the trainer leaves when it starts at step 0
    (run / rundir.STAGE_DIR).mkdir()
    assert rundir.folder_state(run) == "unfinished" and not rundir.completed_a_step(run)
    for name, text in ((rundir.METRICS, '{"type": "step", "global_step": 1}\n'),
                       (f"{rundir.STAGE_DIR}/stage_1.json", "{}"), (rundir.CHECKPOINT, "x"),
                       (rundir.RECORD, "{")):
        (run / name).write_text(text)
        assert rundir.completed_a_step(run), name
        (run / name).unlink()
    assert not rundir.completed_a_step(run)


@pytest.mark.parametrize("flags", [[], ["--resume"]])
def test_a_run_that_failed_before_its_first_step_is_rerun_with_a_fixed_config(tiny_data, tiny_model_file, tmp_path,
                                                                              capsys, flags):
    folder = _tree(tiny_data, tmp_path / "folders")
    for name in ("red", "green", "blue"):  # two per class: the seeded split puts some into train
        for i in range(2):
            (folder / name / f"broken_{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{
        "data.dataset": f"folder:{folder}", "data.num_shots": -1, "optim.max_epoch": 1})
    run = tmp_path / "run"
    assert train_main([*over, "data.strict=true"]) == 2
    assert_one_line_error(capsys.readouterr().err, "cannot decode image")
    assert rundir.folder_state(run) == "unfinished" and not rundir.completed_a_step(run)

    with pytest.warns(UserWarning, match="cannot be decoded"):
        assert train_main([*over, "data.strict=false", *flags]) == 0  # no --overwrite
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "never completed a step" in line]
    assert len(notes) == 1 and "data.strict: True -> False" in notes[0], err
    record = json.loads((run / rundir.RECORD).read_text())
    assert record["skipped_images"] == 6 and record["config"]["data"]["strict"] is False
    assert "strict: false" in (run / rundir.CONFIG).read_text()

    # a folder with completed steps keeps today's rules: a finished run is not replaced
    assert train_main([*over, "data.strict=true"]) == 2
    assert_one_line_error(capsys.readouterr().err, "already holds a finished run")


def test_classes_without_validation_or_test_images_are_named(tiny_data, tiny_model_file, tmp_path, capsys):
    folder = _tree(tiny_data, tmp_path / "folders")
    (folder / "yellow").mkdir()
    root, _ = tiny_data
    shutil.copy(root / "tiny" / "images" / "yellow" / "train_0.png", folder / "yellow")  # 1 image: train only
    over = tiny_run(tiny_data, tiny_model_file, tmp_path, **{
        "data.dataset": f"folder:{folder}", "data.num_shots": 2, "optim.max_epoch": 1})
    with pytest.warns(UserWarning) as caught:
        assert train_main(over) == 0
    named = [str(w.message) for w in caught if "no image in a split" in str(w.message)]
    assert len(named) == 1 and "val: 'yellow'; test: 'yellow'" in named[0], named
    record = json.loads((tmp_path / "run" / rundir.RECORD).read_text())
    assert record["classes_without_images"] == {"val": ["yellow"], "test": ["yellow"]}
    assert set(record["metrics"]["test"]["per_class_accuracy"]) == {"blue", "green", "red"}


def test_a_linear_probe_scores_the_subset_of_its_classes_it_was_asked_for(tiny_data, tiny_model_file, tmp_path,
                                                                          capsys, tiny_clip):
    probe = {"learner.name": "linear_probe", "learner.linear_probe.c": 1.0}
    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, "all", **probe)) == 0
    run = tmp_path / "all"
    capsys.readouterr()
    assert eval_main([str(run), "--subsample", "novel"]) == 0
    result = json.loads((run / rundir.EVAL_DIR / "tiny_novel_test.json").read_text())
    assert result["num_classes"] == 2 and result["metrics"]["n"] == 8
    assert set(result["metrics"]["per_class_accuracy"]) == {"blue", "yellow"}

    # the rows are picked by class name: the novel labels 0, 1 are the training labels 2, 3
    trained = json.loads((run / rundir.RECORD).read_text())["classnames"]
    assert trained == ["red", "green", "blue", "yellow"]
    state = load_checkpoint(run / rundir.CHECKPOINT)["learner"]
    picked = LinearProbe(tiny_clip, ["yellow", "blue"]).state_for_classes(state, trained)
    assert torch.equal(picked["weight"], state["weight"][[3, 2]])
    assert torch.equal(picked["bias"], state["bias"][[3, 2]])
    with pytest.raises(LearnerStateError, match="never saw"):
        LinearProbe(tiny_clip, ["blue", "purple"]).state_for_classes(state, trained)

    assert train_main(tiny_run(tiny_data, tiny_model_file, tmp_path, "base", **probe,
                            **{"data.subsample_classes": "base"})) == 0
    capsys.readouterr()
    assert eval_main([str(tmp_path / "base"), "--subsample", "novel"]) == 2
    assert_one_line_error(capsys.readouterr().err, "no weights for classes it never saw in training")
    assert not (tmp_path / "base" / rundir.EVAL_DIR / "tiny_novel_test.json").exists()
