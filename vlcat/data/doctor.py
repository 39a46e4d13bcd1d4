"""The dataset doctor: is a DATA root ready for the cards asked, before any training?

Training finds a badly prepared dataset too, but one problem at a time and only after the user has typed
a whole run. The doctor reads each card's files the way training does (lenient, so that one missing image
does not hide the next problem), and prints one line per problem with what to do: a missing folder or
split file, ImageNet's validation folder left flat (the tar file has no class folders), images listed but
absent, class folders missing, a label named two ways in the split file, a class count other than the
card's. Images are
decoded only with ``--decode`` (a full decode of ImageNet takes a while).

``vlcat-check-data --root /data oxford_pets imagenet`` (also ``python tools/check_data.py``); exit status
0 only when every dataset asked is ready, 1 when one is not, 2 for a mistake on the command line.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from vlcat.data.cards import DatasetCard, list_cards, resolve_card
from vlcat.data.classes import clean_classname, raw_classnames
from vlcat.data.files import list_images, list_subdirs, missing_files
from vlcat.data.images import find_undecodable
from vlcat.data.loading import _READERS, dataset_dir
from vlcat.data.raw import RawSplits
from vlcat.data.types import Datum
from vlcat.errors import DataError


@dataclass
class Diagnosis:
    """What the doctor found for one dataset: ``problems`` (one line each, with what to do), or a summary."""

    name: str
    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ready(self) -> bool:
        return not self.problems


def default_datasets() -> list[str]:
    """The cards to check when none are named: every shipped card except the generated offline world
    (``synth_*``, written by vlcat itself, never downloaded)."""
    return [c for c in list_cards() if not c.startswith("synth_")]


def _examples(paths: list[str], n: int = 1) -> str:
    return ", ".join(sorted(paths)[:n])


def _flat_imagenet_val(card: DatasetCard, ddir: Path) -> str | None:
    """ImageNet's ILSVRC2012_img_val.tar unpacks into one flat folder; the reader needs <wnid>/ folders."""
    if card.reader != "imagenet":
        return None
    val = ddir / card.image_dir / card.test_dir
    if val.is_dir() and not list_subdirs(val) and list_images(val):
        return (f"{card.name}: the validation folder {val} is flat ({len(list_images(val))} images, no <wnid>/ "
                f"folders, as ILSVRC2012_img_val.tar unpacks); sort the images into one folder per wnid; "
                f"{card.where()}")
    return None


def _read(card: DatasetCard, ddir: Path, dx: Diagnosis) -> RawSplits | None:
    """The card's lists, read leniently (missing class folders are listed, not fatal); None after a
    problem that stops the reading (a missing split file, a broken list)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _READERS[card.reader](card, ddir, False)
        except DataError as exc:
            dx.problems.append(str(exc))
            return None


def _check_names(card: DatasetCard, raw: RawSplits, dx: Diagnosis) -> list[str]:
    """Class names as training will see them. A label named two ways in the split file, labels that are not
    0..n-1, or a class count other than the card's are problems (each would train against wrong prompts)."""
    try:
        raw_names = raw_classnames(raw, card)
    except DataError as exc:
        dx.problems.append(str(exc))
        return []
    if card.num_classes is not None and card.num_classes != len(raw_names):
        dx.problems.append(f"{card.name}: the card expects {card.num_classes} classes but {raw.source} has "
                           f"{len(raw_names)}; use the split file the card names ({card.where()})")
    return [clean_classname(n, card) for n in raw_names]


def diagnose(name: str, root: str | Path | None, *, decode: bool = False) -> Diagnosis:
    """Check one dataset (card name, card file, ``folder:``/``csv:`` spec) under ``root``."""
    dx = Diagnosis(str(name))
    try:
        card = resolve_card(name)
        dx.name = card.name
        _, ddir = dataset_dir(card, root)
    except DataError as exc:
        dx.problems.append(str(exc))
        return dx
    flat = _flat_imagenet_val(card, ddir)
    if flat:
        dx.problems.append(flat)
        return dx
    raw = _read(card, ddir, dx)
    if raw is None:
        return dx
    if raw.skipped:
        dx.problems.append(f"{card.name}: {len(raw.skipped)} class folder(s) missing or not in the class list, "
                           f"e.g. {_examples(raw.skipped)}; {card.where()}")
    names = _check_names(card, raw, dx)
    entries = [e for split in (raw.train, raw.val, raw.test) for e in split]
    if raw.listed:
        missing = missing_files(p for p, _, _ in entries)
        if missing:
            dx.problems.append(f"{card.name}: {len(missing)} of {len(entries)} image(s) listed in {raw.source} are "
                               f"missing, e.g. {_examples(list(missing))}; re-extract the images ({card.where()}), "
                               "or train with data.strict=false to skip them")
    if not raw.test:
        dx.problems.append(f"{card.name}: the test split is empty; {card.where()}")
    if decode and not dx.problems:
        bad = find_undecodable([Datum(p, y, "") for p, y, _ in entries])
        if bad:
            dx.problems.append(f"{card.name}: {len(bad)} image(s) cannot be decoded, e.g. {_examples(bad)}; "
                               "replace them, or train with data.strict=false to leave them out")
    if dx.ready:
        sizes = f"train {len(raw.train)} / val {len(raw.val)} / test {len(raw.test)} images"
        dx.summary = f"{len(names)} classes, {sizes} in {ddir}"
    return dx
