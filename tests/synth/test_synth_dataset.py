"""The dataset writer: CoOp split format, atomic build, reuse, and agreement with the dataset card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlcat.errors import DataError
from vlcat.synth.dataset import FOLDER, IMAGE_DIR, MANIFEST, SPLIT_FILE, build_synth_dataset
from vlcat.synth.tasks import DEFAULT_TASK, TASKS

SMALL = {"n_train_per_class": 2, "n_val_per_class": 1, "n_test_per_class": 1, "image_size": 32}


def test_writes_a_valid_coop_split(tmp_path: Path) -> None:
    folder = build_synth_dataset(tmp_path, seed=0, **SMALL)
    assert folder == tmp_path / FOLDER
    split = json.loads((folder / SPLIT_FILE).read_text())
    assert set(split) == {"train", "val", "test"}
    n = len(TASKS[DEFAULT_TASK].classnames)
    assert [len(split[k]) for k in ("train", "val", "test")] == [2 * n, n, n]
    seen = set()
    for entries in split.values():
        for rel, label, classname in entries:
            assert isinstance(rel, str) and isinstance(label, int) and isinstance(classname, str)
            assert (folder / IMAGE_DIR / rel).is_file()
            assert TASKS[DEFAULT_TASK].classnames[label] == classname
            assert rel.split("/")[0] == classname.replace(" ", "_")
            seen.add(rel)
    assert len(seen) == 4 * n  # no image shared between splits
    assert not [p for p in tmp_path.iterdir() if p.name != FOLDER]  # no temp folders left behind


def test_same_seed_same_bytes_and_reuse(tmp_path: Path) -> None:
    a = build_synth_dataset(tmp_path / "a", seed=1, **SMALL)
    b = build_synth_dataset(tmp_path / "b", seed=1, **SMALL)
    rel = json.loads((a / SPLIT_FILE).read_text())["test"][3][0]
    assert (a / IMAGE_DIR / rel).read_bytes() == (b / IMAGE_DIR / rel).read_bytes()

    stamp = (a / MANIFEST).stat().st_mtime_ns
    assert build_synth_dataset(tmp_path / "a", seed=1, **SMALL) == a
    assert (a / MANIFEST).stat().st_mtime_ns == stamp  # reused, not rewritten

    c = build_synth_dataset(tmp_path / "a", seed=2, **SMALL)  # other parameters: replaced
    assert json.loads((c / MANIFEST).read_text())["params"]["seed"] == 2
    assert (c / IMAGE_DIR / rel).read_bytes() != (b / IMAGE_DIR / rel).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [FOLDER]


def test_incomplete_folder_is_not_taken_for_a_dataset(tmp_path: Path) -> None:
    (tmp_path / FOLDER / IMAGE_DIR).mkdir(parents=True)
    with pytest.raises(DataError, match="not written by build_synth_dataset"):
        build_synth_dataset(tmp_path, **SMALL)


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vlcat.synth.dataset as ds

    def boom(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ds, "png_bytes", boom)
    with pytest.raises(RuntimeError):
        build_synth_dataset(tmp_path, **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_card_matches_the_writer() -> None:
    from vlcat.data.cards import resolve_card

    card = resolve_card("synth_shapes")
    assert (card.reader, card.folder, card.image_dir, card.split_file) == ("split_json", FOLDER, IMAGE_DIR,
                                                                          SPLIT_FILE)
    assert card.num_classes == len(TASKS[DEFAULT_TASK].classnames)
    assert card.template == "a photo of a {}."


def test_project_loader_reads_it_through_the_card(tmp_path: Path) -> None:
    loading = pytest.importorskip("vlcat.data.loading")
    build_synth_dataset(tmp_path, **SMALL)
    splits = loading.load_dataset("synth_shapes", tmp_path)
    assert splits.classnames == TASKS[DEFAULT_TASK].classnames
    n = len(splits.classnames)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (2 * n, n, n)
    assert Path(splits.test[0].path).is_file()
