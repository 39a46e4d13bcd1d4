"""Readers for ImageNet and its evaluation-only variants (V2, Sketch, A, R).

All of them take class names from CLIP's ``classnames.txt`` ("<wnid> <name>" per line, in ImageNet
label order) so that the variants share ImageNet's names; the 200-class subsets (A, R) keep ImageNet's
order and are relabelled 0..199, as CoOp does when it enumerates the sorted wnid folders.
"""

from __future__ import annotations

from pathlib import Path

from vlcat.data.cards import DatasetCard
from vlcat.data.files import list_images, list_subdirs, read_lines
from vlcat.data.raw import Entry, RawSplits
from vlcat.errors import DataError


def read_classnames_txt(card: DatasetCard, ddir: Path) -> dict[str, str]:
    """``{wnid: class name}`` in file order (which is ImageNet's label order)."""
    assert card.classes_file is not None
    path = ddir / card.classes_file
    lines = read_lines(path, "class-name file", f"{card.where()} (copy it from the ImageNet folder)")
    out: dict[str, str] = {}
    for n, line in enumerate(lines, start=1):
        wnid, _, name = line.partition(" ")
        name = name.strip()
        if not name:
            raise DataError(f"{card.name}: {path}:{n} must be '<wnid> <class name>', got {line[:60]!r}")
        if wnid in out:
            raise DataError(f"{card.name}: {path}:{n} repeats {wnid}; re-download classnames.txt")
        out[wnid] = name
    return out


def _image_root(card: DatasetCard, ddir: Path) -> Path:
    root = ddir / card.image_dir
    if not root.is_dir():
        raise DataError(f"{card.name}: image folder {root} is missing; {card.where()}")
    return root


def _class_folders(card: DatasetCard, split_dir: Path, expected: list[str], strict: bool,
                   skipped: list[str]) -> list[Entry]:
    """Images of ``split_dir/<expected[label]>/`` for every label; missing or unknown folders are errors
    when strict, recorded in ``skipped`` otherwise."""
    if not split_dir.is_dir():
        raise DataError(f"{card.name}: folder {split_dir} is missing; {card.where()}")
    on_disk = list_subdirs(split_dir)
    if not on_disk and list_images(split_dir):
        raise DataError(
            f"{card.name}: {split_dir} holds images directly; sort them into class folders; {card.where()}"
        )
    unknown = sorted(set(on_disk) - set(expected))
    if unknown:
        if strict:
            raise DataError(
                f"{card.name}: {split_dir / unknown[0]} is not a class in {card.classes_file} "
                f"({len(unknown)} unknown folder(s)); remove them or set data.strict=false (strict=False in Python)"
            )
        skipped += [str(split_dir / u) for u in unknown]
    present = set(on_disk)
    entries: list[Entry] = []
    for label, folder in enumerate(expected):
        if folder not in present:
            if strict:
                raise DataError(
                    f"{card.name}: class folder {split_dir / folder} is missing; {card.where()}, "
                    "or set data.strict=false (strict=False in Python)"
                )
            skipped.append(str(split_dir / folder))
            continue
        entries += [(p, label, folder) for p in list_images(split_dir / folder)]
    return entries


def _named(entries: list[Entry], names: list[str]) -> list[Entry]:
    return [(p, y, names[y]) for p, y, _ in entries]


def read_imagenet(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """``images/train/<wnid>/`` and ``images/val/<wnid>/``; CoOp evaluates on val and has no val split."""
    classes = read_classnames_txt(card, ddir)
    wnids, names = list(classes), list(classes.values())
    root = _image_root(card, ddir)
    skipped: list[str] = []
    train = _class_folders(card, root / card.train_dir, wnids, strict, skipped)
    test = _class_folders(card, root / card.test_dir, wnids, strict, skipped)
    return RawSplits(_named(train, names), [], _named(test, names), classnames=names, listed=False,
                     skipped=skipped, source=str(ddir / str(card.classes_file)))


def read_imagenet_v2(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """``<image_dir>/<label index>/``: folders are named by ImageNet label, not by wnid."""
    classes = read_classnames_txt(card, ddir)
    names = list(classes.values())
    root = _image_root(card, ddir)
    skipped: list[str] = []
    test = _class_folders(card, root, [str(i) for i in range(len(names))], strict, skipped)
    return RawSplits([], [], _named(test, names), classnames=names, listed=False, skipped=skipped,
                     source=str(ddir / str(card.classes_file)))


def read_imagenet_wnids(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """``<image_dir>/<wnid>/`` for whichever ImageNet classes are on disk (all 1000 for Sketch, 200 for
    A and R), kept in ImageNet order and relabelled 0..k-1."""
    classes = read_classnames_txt(card, ddir)
    root = _image_root(card, ddir)
    on_disk = set(list_subdirs(root))
    wnids = [w for w in classes if w in on_disk]
    if not wnids:
        raise DataError(f"{card.name}: {root} has no class folders named by wnid; {card.where()}")
    skipped: list[str] = []
    test = _class_folders(card, root, wnids, strict, skipped)
    names = [classes[w] for w in wnids]
    return RawSplits([], [], _named(test, names), classnames=names, listed=False, skipped=skipped,
                     source=str(ddir / str(card.classes_file)))
