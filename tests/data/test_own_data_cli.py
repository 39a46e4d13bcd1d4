"""Own data from the command line in one line: ``data.dataset=folder:PATH`` / ``csv:PATH`` need no DATA root.

Real image trees and CSV files, the real command line (``tools/train.py`` in a fresh process, from the folder
a user would type it in) and the tiny model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vlcat.cli import train_main
from vlcat.data import load_dataset
from vlcat.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def _tree(tiny_data, where: Path) -> Path:
    """The tiny dataset's PNGs as a class-per-folder tree (what a researcher has for own data)."""
    root, _ = tiny_data
    for name in ("red", "green", "blue", "yellow"):
        shutil.copytree(root / "tiny" / "images" / name, where / name)
    return where


def _run_args(tiny_model_file, tmp_path, dataset: str, *extra: str) -> list[str]:
    return [f"data.dataset={dataset}", "model.name=tiny", f"model.config={tiny_model_file}",
            f"data.cache_dir={tmp_path / 'cache'}", "data.num_shots=2", "learner.n_ctx=4", "optim.max_epoch=1",
            "optim.batch_size=4", "train.progress=false", f"output_dir={tmp_path / 'run'}", *extra]


def test_folder_spec_relative_to_the_current_folder_needs_no_data_root(tiny_data, tiny_model_file, tmp_path):
    """The one line a new user types, in a fresh process: no data.root, and the default root does not exist."""
    _tree(tiny_data, tmp_path / "work" / "digits")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"),
                          *_run_args(tiny_model_file, tmp_path, "folder:digits")],
                         cwd=tmp_path / "work", env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["classnames"] == ["blue", "green", "red", "yellow"] and record["dataset"] == "digits"
    assert not (tmp_path / "work" / "data").exists()


def test_absolute_specs_ignore_a_missing_data_root_and_root_may_be_null(tiny_data, tiny_model_file, tmp_path):
    folder = _tree(tiny_data, tmp_path / "mine")
    assert train_main(_run_args(tiny_model_file, tmp_path, f"folder:{folder}", "data.root=/nonexistent/data")) == 0
    rows = ["path,label"] + [f"{p.relative_to(folder)},{p.parent.name}" for p in sorted(folder.rglob("*.png"))]
    (folder / "list.csv").write_text("\n".join(rows) + "\n")
    shutil.rmtree(tmp_path / "run")
    assert train_main(_run_args(tiny_model_file, tmp_path, f"csv:{folder / 'list.csv'}", "data.root=null")) == 0
    assert json.loads((tmp_path / "run" / "record.json").read_text())["num_classes"] == 4


def test_custom_card_with_an_absolute_folder_needs_no_data_root(tiny_data, tmp_path):
    folder = _tree(tiny_data, tmp_path / "mine")
    card = tmp_path / "birds.yaml"
    card.write_text(f"kind: custom\nreader: image_folder\nfolder: {folder}\n")
    assert load_dataset(card, tmp_path / "no_such_root").num_classes == 4


@pytest.mark.parametrize("kind", ["folder", "csv"])
def test_a_folder_or_csv_given_as_the_dataset_suggests_the_spec(tiny_data, tiny_model_file, tmp_path, capsys,
                                                                kind):
    folder = _tree(tiny_data, tmp_path / "mine")
    target = folder
    if kind == "csv":
        target = folder / "list.csv"
        target.write_text("path,label\nred/train_0.png,red\n")
    assert train_main(_run_args(tiny_model_file, tmp_path, str(target))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"did you mean {kind}:{target}" in err, err
    assert not (tmp_path / "run").exists()


def test_relative_spec_falls_back_to_the_data_root(tiny_data, tmp_path, monkeypatch):
    """``folder:NAME`` under ``data.root`` (the older reading) still works when NAME is not in the current folder."""
    _tree(tiny_data, tmp_path / "DATA" / "mine")
    monkeypatch.chdir(tmp_path)
    assert load_dataset("folder:mine", tmp_path / "DATA").dataset_dir == str(tmp_path / "DATA" / "mine")
    with pytest.raises(DataError, match="dataset folder .*nowhere not found"):
        load_dataset("folder:nowhere", None)
