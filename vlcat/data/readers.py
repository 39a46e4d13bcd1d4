"""Readers for list-based layouts: CoOp's split JSON, FGVC-Aircraft's text lists and user CSV files.

A reader only turns files into ``(path, label, raw class name)`` entries; checking that the images
exist, cleaning class names and building ``Datum`` objects happen once, in ``loading.py``, for all of
them. Folder-based readers live in ``imagenet.py`` and ``folders.py``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from vlcat.data.cards import DatasetCard
from vlcat.data.files import read_lines
from vlcat.data.folders import split_by_ratio
from vlcat.data.raw import Entry, RawSplits
from vlcat.errors import DataError

SPLITS = ("train", "val", "test")


def _image_base(card: DatasetCard, ddir: Path) -> str:
    return str(ddir if card.paths_relative_to == "folder" else ddir / card.image_dir)


def _split_file(card: DatasetCard, ddir: Path, name: str, what: str = "split file") -> Path:
    path = ddir / name
    if not path.is_file():
        raise DataError(f"{card.name}: {what} {path} is missing; {card.where()}")
    return path


def _inside(card: DatasetCard, base: str, rel: str, where: str) -> str:
    """``base/rel``, refused when ``rel`` is absolute or climbs out of ``base`` with ``..``.

    Split files are data from the internet; an entry must not make vlcat open files elsewhere.
    """
    full = os.path.normpath(os.path.join(base, rel))
    root = os.path.normpath(base)
    if os.path.isabs(rel) or not (full == root or full.startswith(root + os.sep)):
        raise DataError(f"{card.name}: {where} path {rel!r} is outside the dataset folder {root}; "
                        "entries must be relative paths inside it")
    return full


def read_split_json(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """CoOp's ``{"train": [[relpath, label, classname], ...], "val": [...], "test": [...]}``."""
    assert card.split_file is not None
    path = _split_file(card, ddir, card.split_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{card.name}: split file {path} is not valid JSON ({exc}); re-download it") from exc
    if not isinstance(data, dict) or not {"train", "test"} <= set(data):
        raise DataError(f"{card.name}: split file {path} must be an object with train, val and test lists")
    base = _image_base(card, ddir)
    out: dict[str, list[Entry]] = {}
    for split in SPLITS:
        rows = data.get(split, [])
        if not isinstance(rows, list):
            raise DataError(f"{card.name}: '{split}' in {path} must be a list of [path, label, classname]")
        entries: list[Entry] = []
        for i, row in enumerate(rows):
            ok = (
                isinstance(row, list | tuple) and len(row) == 3 and isinstance(row[0], str)
                and isinstance(row[1], int) and not isinstance(row[1], bool) and isinstance(row[2], str)
            )
            if not ok:
                raise DataError(
                    f"{card.name}: {path} {split}[{i}] must be [path, label, classname], got {str(row)[:80]}"
                )
            entries.append((_inside(card, base, row[0], f"{path} {split}[{i}]"), row[1], row[2]))
        out[split] = entries
    return RawSplits(out["train"], out["val"], out["test"], source=str(path))


def read_fgvc_aircraft(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """``variants.txt`` (one class per line) and ``images_variant_<split>.txt`` ("<image id> <variant>")."""
    assert card.classes_file is not None
    cpath = _split_file(card, ddir, card.classes_file, "class list")
    classnames = read_lines(cpath, "class list", card.where())
    index = {c: i for i, c in enumerate(classnames)}
    if len(index) != len(classnames):
        raise DataError(f"{card.name}: {cpath} lists a class twice; re-extract the dataset")
    image_dir = ddir / card.image_dir
    out: dict[str, list[Entry]] = {}
    for split in SPLITS:
        path = _split_file(card, ddir, card.split_files[split])
        entries: list[Entry] = []
        for n, line in enumerate(read_lines(path, "split file", card.where()), start=1):
            image_id, _, variant = line.partition(" ")
            if variant not in index:
                raise DataError(f"{card.name}: {path}:{n} names class {variant!r}, which is not in {cpath}")
            entries.append((str(image_dir / f"{image_id}{card.image_ext}"), index[variant], variant))
        out[split] = entries
    return RawSplits(out["train"], out["val"], out["test"], classnames=classnames, source=str(cpath))


def _is_int(text: str) -> bool:
    return text.isdigit()


def read_csv(card: DatasetCard, ddir: Path, strict: bool) -> RawSplits:
    """A user CSV with header ``path,label[,split][,classname]``; ``label`` may be an index or a class name.

    Without a ``split`` column the rows are split per class like an image folder (``split_ratios``).
    """
    assert card.split_file is not None
    path = _split_file(card, ddir, card.split_file, "CSV file")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{card.name}: cannot read CSV {path} ({exc}); fix the file") from exc
    if "path" not in header or "label" not in header or set(header) - {"path", "label", "split", "classname"}:
        raise DataError(
            f"{card.name}: CSV {path} needs the header 'path,label[,split][,classname]', got {header}"
        )
    if not rows:
        raise DataError(f"{card.name}: CSV {path} has no rows")
    base = _image_base(card, ddir)
    labels_txt = [(r.get("label") or "").strip() for r in rows]
    by_index = all(_is_int(t) for t in labels_txt)
    classnames: list[str] | None = None
    if not by_index:  # labels are class names: order them as the card lists them, else alphabetically
        classnames = list(card.classnames) if card.classnames else sorted(set(labels_txt))
        index = {c: i for i, c in enumerate(classnames)}
    elif "classname" not in header:
        if not card.classnames:
            raise DataError(
                f"{card.name}: CSV {path} has numeric labels but no names; add a classname column or "
                "card classnames"
            )
        classnames = list(card.classnames)

    entries: list[tuple[Entry, str | None]] = []
    for n, (row, lab) in enumerate(zip(rows, labels_txt, strict=True), start=2):
        rel = (row.get("path") or "").strip()
        if not rel or not lab:
            raise DataError(f"{card.name}: {path}:{n} needs both a path and a label")
        if by_index:
            label = int(lab)
            if "classname" in header:
                name = (row.get("classname") or "").strip()
            elif card.classnames is not None and label < len(card.classnames):
                name = card.classnames[label]
            else:
                raise DataError(f"{card.name}: {path}:{n} label {label} is not in the card's classnames")
        else:
            if lab not in index:
                raise DataError(f"{card.name}: {path}:{n} class {lab!r} is not in the card's classnames")
            label, name = index[lab], lab
        split = (row.get("split") or "").strip().lower() if "split" in header else None
        if split is not None and split not in SPLITS:
            raise DataError(f"{card.name}: {path}:{n} split must be train, val or test, got {split!r}")
        entries.append(((_inside(card, base, rel, f"{path}:{n}"), label, name), split))

    if "split" in header:
        out = {s: [e for e, sp in entries if sp == s] for s in SPLITS}
        train, val, test = out["train"], out["val"], out["test"]
    else:
        groups: dict[int, list[Entry]] = {}
        for e, _ in entries:
            groups.setdefault(e[1], []).append(e)
        ordered = [groups[k] for k in sorted(groups)]
        train, val, test = split_by_ratio(ordered, card.split_ratios, card.split_seed)
    return RawSplits(train, val, test, classnames=classnames, source=str(path))
