"""The offline suite's tasks and shifts: pinned pixels, cards that agree with the generator, clear errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from vlcat.data.cards import resolve_card
from vlcat.errors import DataError
from vlcat.synth.dataset import SPLIT_FILE, build_synth_dataset, build_synth_datasets
from vlcat.synth.tasks import SHIFTS, TASK_BY_CARD, TASKS, TaskClass, check_shift, get_task, restyle, shift
from vlcat.synth.world import GENERATOR_VERSION, png_bytes

# sha256 (first 16 hex digits) of the first train and test image of every class, seed 0, 64 px. A change
# here means every cached dataset and every published offline number changes: bump GENERATOR_VERSION
# (world.py) and update these on purpose, never silently.
DIGESTS = {
    "colour_shape": "093692f46cbe88b1",
    "shape_clutter": "c2faa152edf20a2a",
    "background": "f2b99ae14f54ab39",
    "photo_condition": "6ec191a370c71101",
    "colour_tint": "0b1fc9bc6cdc59fe",
    "colour_shape_filled": "45cab34d8557b64b",
    "colour_shape_dim": "eae83da469220d92",
    "colour_shape_noisy": "bdc34f95cfeb1f9a",
    "colour_shape_clutter": "d4219b977467b023",
}
ALL = {**TASKS, **SHIFTS}


def test_the_suite_has_five_tasks_and_three_shifts() -> None:
    assert len(TASKS) >= 5 and len(SHIFTS) >= 3
    assert sorted(DIGESTS) == sorted(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_first_images_of_every_task_are_pinned(name: str) -> None:
    task = ALL[name]
    h = hashlib.sha256()
    for label in range(len(task.classes)):
        for split in ("train", "test"):
            h.update(png_bytes(task.image(label, split, 0, seed=0)))
    assert GENERATOR_VERSION == 2, "update DIGESTS together with the generator version"
    assert h.hexdigest()[:16] == DIGESTS[name]


@pytest.mark.parametrize("name", sorted(ALL))
def test_card_agrees_with_its_task(name: str) -> None:
    task = ALL[name]
    card = resolve_card(task.card)
    assert (card.name, card.folder, card.num_classes) == (task.card, task.card, len(task.classes))
    assert card.template == task.template  # the probe's zero-shot prompt is the card's
    assert card.domain and "zero-shot" in Path(card.source).read_text().lower()  # calibration numbers in the comment
    assert TASK_BY_CARD[task.card] is task
    assert len(set(task.classnames)) == len(task.classnames)


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_shifts_keep_the_source_classes_and_change_pixels(name: str) -> None:
    s = SHIFTS[name]
    src = get_task(s.shift_of)
    assert s.classnames == src.classnames
    assert png_bytes(s.image(0, "test", 0)) != png_bytes(src.image(0, "test", 0))


def test_a_shift_with_other_classes_is_refused(tmp_path: Path) -> None:
    bad = dataclasses.replace(SHIFTS["colour_shape_dim"], classes=(TaskClass("red circle", "circle", "red"),))
    with pytest.raises(DataError, match="other classes than its source 'colour_shape'"):
        check_shift(bad)
    shuffled = dataclasses.replace(bad, classes=tuple(reversed(get_task("colour_shape").classes)))
    with pytest.raises(DataError, match="same names, other order"):
        check_shift(shuffled)


def test_unknown_names_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown synth task 'nope'; known: colour_shape"):
        get_task("nope")
    with pytest.raises(DataError, match="unknown synth task"):
        build_synth_dataset(tmp_path, task="nope")
    with pytest.raises(DataError, match=r"unknown Style field\(s\) blurr"):
        shift("x", "synth_x", "colour_shape", blurr=1.0)
    with pytest.raises(DataError, match="unknown Style field"):
        restyle(TASKS["background"].style, outline=1)
    assert not list(tmp_path.iterdir())


def test_every_task_writes_its_own_folder_once(tmp_path: Path) -> None:
    small = {"n_train_per_class": 1, "n_val_per_class": 0, "n_test_per_class": 1, "image_size": 16}
    cards = ["synth_backgrounds", "synth_shapes_filled", "dtd", "synth_backgrounds"]
    folders = build_synth_datasets(tmp_path, cards, **small)
    assert [f.name for f in folders] == ["synth_backgrounds", "synth_shapes_filled"]  # dtd: not generated
    split = json.loads((folders[0] / SPLIT_FILE).read_text())
    assert [e[2] for e in split["test"]] == TASKS["background"].classnames
    stamp = (folders[0] / SPLIT_FILE).stat().st_mtime_ns
    assert build_synth_datasets(tmp_path, cards[:1], **small) == folders[:1]
    assert (folders[0] / SPLIT_FILE).stat().st_mtime_ns == stamp  # reused, not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth_backgrounds", "synth_shapes_filled"]


def test_task_test_size_is_the_default(tmp_path: Path) -> None:
    folder = build_synth_dataset(tmp_path, task="background", n_train_per_class=0, n_val_per_class=0,
                                 image_size=16)
    split = json.loads((folder / SPLIT_FILE).read_text())
    assert len(split["test"]) == TASKS["background"].test_per_class * len(TASKS["background"].classes)
