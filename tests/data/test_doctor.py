"""The dataset doctor (``tools/check_data.py``, ``vlcat-check-data``) on real, partly broken data roots.

Each dataset below is prepared the way a user gets it wrong (real files in the real layouts, the shipped
cards copied with the fixture's class count): the doctor must name every problem in one line with what to
do, say which datasets are ready, and exit 0 only when all asked are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vlcat.cli.data import main
from vlcat.data.doctor import default_datasets, diagnose

REPO = Path(__file__).resolve().parents[2]


def _broken_root(data_root: Path, build) -> Path:
    """oxford_pets ready; dtd with an image gone; imagenet with a flat val folder; caltech101 without its split
    file; eurosat with a label named two ways; ucf101 not there at all. Returns the cards folder."""
    build.split_json_tree(data_root, "oxford_pets", ["abyssinian", "beagle"], counts=(2, 1, 1))
    build.split_json_tree(data_root, "dtd", ["banded", "dotted"], counts=(2, 1, 1))
    (data_root / "dtd" / "images" / "dotted" / "train_1.png").unlink()
    inet = data_root / "imagenet"
    build.imagenet_classnames(inet / "classnames.txt", build.WNIDS, build.INAMES)
    for i, wnid in enumerate(build.WNIDS):
        build.image(inet / "images" / "train" / wnid / f"{wnid}_1.JPEG", i, fmt="PNG")
        build.image(inet / "images" / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG", i, fmt="PNG")
    build.card_copy(data_root.parent / "cards", "imagenet", num_classes=5)
    build.split_json_tree(data_root, "caltech101", ["face", "leopard"], counts=(1, 1, 1))
    (data_root / "caltech-101" / "split_zhou_Caltech101.json").unlink()
    build.split_json_tree(data_root, "eurosat", ["Forest", "River"], counts=(1, 1, 1))
    split_path = data_root / "eurosat" / "split_zhou_EuroSAT.json"
    split = json.loads(split_path.read_text())
    split["test"][1][2] = "Sea or Lake"  # label 1 is "River" everywhere else
    split_path.write_text(json.dumps(split))
    return build.card_copy(data_root.parent / "cards", "ucf101", num_classes=2).parent


def test_every_problem_is_one_line_with_what_to_do_and_exit_1(data_root, build, tmp_path):
    cards = _broken_root(data_root, build)
    names = ["oxford_pets", "dtd", "imagenet", "caltech101", "eurosat", "ucf101"]
    res = subprocess.run([sys.executable, str(REPO / "tools" / "check_data.py"), "--root", str(data_root), *names],
                         env=dict(os.environ, PYTHONPATH=str(REPO), VLCAT_DATASETS_DIR=str(cards)), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert "Traceback" not in res.stderr
    ok = [x for x in lines if x.startswith("ok ")]
    assert len(ok) == 1 and "oxford_pets: 2 classes, train 4 / val 2 / test 2 images" in ok[0]
    problems = {x.split()[1].rstrip(":"): x for x in lines if x.startswith("PROBLEM ")}
    assert set(problems) == set(names) - {"oxford_pets"} and len(lines) == 6
    assert "1 of 8 image(s) listed in" in problems["dtd"] and "dotted/train_1.png" in problems["dtd"]
    assert "data.strict=false" in problems["dtd"]
    assert "validation folder" in problems["imagenet"] and "is flat (5 images" in problems["imagenet"]
    assert "one folder per wnid" in problems["imagenet"] and "section 'ImageNet'" in problems["imagenet"]
    assert "split file" in problems["caltech101"] and "split_zhou_Caltech101.json is missing" in problems[
        "caltech101"]
    assert "label 1 is called both 'River' and 'Sea or Lake'" in problems["eurosat"]
    assert "dataset folder" in problems["ucf101"] and "not found" in problems["ucf101"]
    assert res.stderr.strip().splitlines()[-1].startswith("5 of 6 dataset(s) not ready: dtd, imagenet")


def test_ready_datasets_exit_0(tiny_data, capsys):
    root, card = tiny_data
    assert main(["--root", str(root), str(card), "--decode"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("ok       tiny: 4 classes, train 24 / val 16 / test 16 images")
    assert "all 1 dataset(s) ready" in out.err


def test_class_count_against_the_card_and_undecodable_images(data_root, build, monkeypatch):
    build.split_json_tree(data_root, "oxford_pets", ["a", "b"], counts=(1, 1, 1))
    monkeypatch.setenv("VLCAT_DATASETS_DIR", str(REPO / "datasets"))  # the real card: 37 classes
    dx = diagnose("oxford_pets", data_root)
    assert not dx.ready and "the card expects 37 classes but" in dx.problems[0]
    (data_root / "oxford_pets" / "images" / "a" / "test_0.png").write_bytes(b"not an image")
    dx = diagnose(str(build.card_copy(data_root.parent / "cards", "oxford_pets", num_classes=2)), data_root,
                  decode=True)
    assert len(dx.problems) == 1 and "1 image(s) cannot be decoded" in dx.problems[0]


def test_own_data_specs_and_a_missing_root(data_root, build, tmp_path, capsys):
    for c in ("x", "y"):
        for j in range(10):
            build.image(tmp_path / "mine" / c / f"{j}.png", j)
    assert main(["--root", str(tmp_path / "nowhere"), f"folder:{tmp_path / 'mine'}"]) == 0
    assert main(["--root", str(tmp_path / "nowhere"), "oxford_pets"]) == 1
    assert "PROBLEM  data root" in capsys.readouterr().out
    assert "oxford_pets" in default_datasets() and not any(d.startswith("synth_") for d in default_datasets())
