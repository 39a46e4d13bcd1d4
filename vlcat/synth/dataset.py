"""Write a world classification task to disk in CoOp's layout.

The rest of vlcat reads datasets only from disk through dataset cards, so the offline world is written as
an ordinary dataset (class folders of PNGs plus a CoOp split JSON) rather than served from memory: the
same readers, caches and few-shot samplers are exercised offline as with real data.

Every task of the suite (``tasks.TASKS`` and the domain shifts ``tasks.SHIFTS``) is written to its own
folder, named after its card (``synth_shapes``, ``synth_backgrounds``, ...), so one data root holds the
whole offline suite and the cards find their data as they would find downloaded datasets.

The folder is built under a temporary name and renamed into place at the end, and a manifest of the
parameters is written last inside it, so a crash never leaves a half-written dataset that looks complete,
and a second call with the same parameters reuses the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vlcat.errors import DataError
from vlcat.synth.tasks import DEFAULT_TASK, TASK_BY_CARD, check_shift, get_task
from vlcat.synth.world import GENERATOR_VERSION, png_bytes

FOLDER = "synth_shapes"
"""The default task's folder (each task's folder is its card name)."""
IMAGE_DIR = "images"
SPLIT_FILE = "split_vlcat_synth_shapes.json"
"""One split-file name for every task (the cards say so), so the readers need no per-task code."""
MANIFEST = "vlcat_synth_manifest.json"


def class_folder(classname: str) -> str:
    return classname.replace(" ", "_")


def _params(seed: int, n_train: int, n_val: int, n_test: int, image_size: int, task: str) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "task": task,
        "seed": seed,
        "n_train_per_class": n_train,
        "n_val_per_class": n_val,
        "n_test_per_class": n_test,
        "image_size": image_size,
    }


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["params"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(folder: Path, params: dict[str, Any]) -> None:
    task = get_task(params["task"])
    images = folder / IMAGE_DIR
    counts = {"train": params["n_train_per_class"], "val": params["n_val_per_class"],
              "test": params["n_test_per_class"]}
    split: dict[str, list[list[Any]]] = {name: [] for name in counts}
    for label, classname in enumerate(task.classnames):
        cdir = images / class_folder(classname)
        cdir.mkdir(parents=True)
        number = 0  # one numbering per class across splits, so file names never collide
        for name, count in counts.items():
            for i in range(count):
                img = task.image(label, name, i, seed=params["seed"], size=params["image_size"])
                rel = f"{class_folder(classname)}/{number:04d}.png"
                (images / rel).write_bytes(png_bytes(img))
                split[name].append([rel, label, classname])
                number += 1
    (folder / SPLIT_FILE).write_text(json.dumps(split, indent=0) + "\n", encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps({"params": params, "classnames": task.classnames}, indent=2)
                                   + "\n", encoding="utf-8")


def build_synth_dataset(
    root: Path | str,
    *,
    seed: int = 0,
    n_train_per_class: int = 16,
    n_val_per_class: int = 4,
    n_test_per_class: int | None = None,
    image_size: int = 64,
    task: str = DEFAULT_TASK,
) -> Path:
    """Write (or reuse) ``root/<card of task>`` (``root/synth_shapes`` by default) and return its path.

    ``n_test_per_class`` defaults to the task's own (``Task.test_per_class``).

    A folder written earlier with other parameters is replaced; a folder of that name that this function
    did not write is refused rather than overwritten, since it may be someone's data.
    """
    spec = get_task(task)
    check_shift(spec)
    if n_test_per_class is None:
        n_test_per_class = spec.test_per_class
    for name, n in (("n_train_per_class", n_train_per_class), ("n_val_per_class", n_val_per_class),
                    ("n_test_per_class", n_test_per_class)):
        if n < 0:
            raise DataError(f"{name} must be >= 0, got {n}")
    if image_size < 8:
        raise DataError(f"image_size must be >= 8, got {image_size}")

    root = Path(root)
    target = root / spec.card
    params = _params(seed, n_train_per_class, n_val_per_class, n_test_per_class, image_size, task)
    if target.exists():
        existing = _read_manifest(target)
        if existing == params:
            return target
        if existing is None:
            raise DataError(f"{target} exists but was not written by build_synth_dataset; move it away or "
                            f"choose another data root")

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.card}.tmp-", dir=root))
    try:
        _write(tmp, params)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{spec.card}.old-", dir=root))
            os.replace(target, old / spec.card)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except FileExistsError:
        # Another process finished the same build first (rename onto a non-empty dir fails): take theirs
        # when it matches, otherwise report.
        shutil.rmtree(tmp, ignore_errors=True)
        if _read_manifest(target) != params:
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def is_synth_card(dataset: str) -> bool:
    """Whether ``dataset`` (a card name) is one the offline world generates."""
    return dataset in TASK_BY_CARD


def build_synth_datasets(root: Path | str, cards: list[str], **params: Any) -> list[Path]:
    """Write (or reuse) the generated datasets among ``cards``; other names are left to their readers."""
    return [build_synth_dataset(root, task=TASK_BY_CARD[c].name, **params) for c in dict.fromkeys(cards)
            if is_synth_card(c)]
