"""The generic image-folder reader, for users who bring their own data.

Two layouts: ``<root>/<class>/<image>`` (split per class by ``split_ratios`` with a fixed seed, like
CoOp's ``read_and_split_data`` built DTD/EuroSAT/Caltech splits) or ``<root>/{train,val,test}/<class>/``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from vlcat.data.cards import DatasetCard
from vlcat.data.files import list_images, list_subdirs
from vlcat.data.raw import Entry, RawSplits
from vlcat.errors import DataError

T = TypeVar("T")


def split_by_ratio(
    groups: Sequence[Sequence[T]], ratios: tuple[float, float, float], seed: int
) -> tuple[list[T], list[T], list[T]]:
    """Split each class's items into train/val/test with one seeded generator over the classes in order.

    Counts are ``round(n * ratio)`` as in CoOp; every non-empty class keeps at least one training item
    so that few-shot sampling always sees it.
    """
    rng = random.Random(seed)
    train: list[T] = []
    val: list[T] = []
    test: list[T] = []
    for items in groups:
        items = list(items)
        rng.shuffle(items)
        n = len(items)
        n_train = max(1, round(n * ratios[0])) if n else 0
        n_val = min(round(n * ratios[1]), n - n_train)
        train += items[:n_train]
        val += items[n_train : n_train + n_val]
        test += items[n_train + n_val :]
    return train, val, test


def _class_entries(folder: Path, classes: list[str]) -> list[Entry]:
    out: list[Entry] = []
    for label, cname in enumerate(classes):
        cdir = folder / cname
        if cdir.is_dir():
            out += [(p, label, cname) for p in list_images(cdir)]
    return out


def read_image_folder(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    root = ddir / card.image_dir
    if not root.is_dir():
        raise DataError(f"{card.name}: image folder {root} is missing; {card.where()}")
    layout = card.layout
    if layout == "auto":
        layout = "split_dirs" if (root / "train").is_dir() else "flat"
    skipped: list[str] = []

    if layout == "flat":
        classes = list_subdirs(root)
        groups: list[list[str]] = []
        kept: list[str] = []
        for cname in classes:
            images = list_images(root / cname)
            if not images:
                if strict:
                    raise DataError(
                        f"{card.name}: class folder {root / cname} has no images; add some, remove it, "
                        "or set data.strict=false (strict=False in Python) to skip it"
                    )
                skipped.append(str(root / cname))
                continue
            kept.append(cname)
            groups.append(images)
        if not kept:
            raise DataError(f"{card.name}: {root} has no class folders with images; expected <class>/<image>")
        tagged = [[(p, label, cname) for p in imgs]
                  for label, (cname, imgs) in enumerate(zip(kept, groups, strict=True))]
        train, val, test = split_by_ratio(tagged, card.split_ratios, card.split_seed)
        return RawSplits(train, val, test, classnames=kept, listed=False, skipped=skipped, source=str(root))

    present = {s: (root / s).is_dir() for s in ("train", "val", "test")}
    if not present["train"] or not (present["val"] or present["test"]):
        raise DataError(
            f"{card.name}: {root} needs train/ and test/ (or val/) folders of <class>/<image>; {card.where()}"
        )
    classes = sorted({c for s, ok in present.items() if ok for c in list_subdirs(root / s)})
    if not classes:
        raise DataError(f"{card.name}: {root}/train has no class folders; expected train/<class>/<image>")
    splits = {s: _class_entries(root / s, classes) if ok else [] for s, ok in present.items()}
    if not present["test"]:  # the ImageNet convention: the validation set is the test set
        splits["test"], splits["val"] = splits["val"], []
    return RawSplits(splits["train"], splits["val"], splits["test"], classnames=classes, listed=False,
                     skipped=skipped, source=str(root))
