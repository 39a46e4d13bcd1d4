"""``load_dataset``: card + DATA root -> checked, cleaned ``DatasetSplits``.

Everything that can be wrong with prepared data (missing root, folder, split file or image; labels that
disagree with names) is found here, before any model is built, and reported as one-line DataErrors.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from vlcat.data import folders, imagenet, readers
from vlcat.data.cards import DatasetCard, resolve_card
from vlcat.data.classes import clean_classname, raw_classnames
from vlcat.data.files import missing_files
from vlcat.data.raw import Entry, RawSplits
from vlcat.data.types import DatasetSplits, Datum
from vlcat.errors import DataError

_READERS = {
    "split_json": readers.read_split_json,
    "fgvc_aircraft": readers.read_fgvc_aircraft,
    "csv": readers.read_csv,
    "imagenet": imagenet.read_imagenet,
    "imagenet_v2": imagenet.read_imagenet_v2,
    "imagenet_wnids": imagenet.read_imagenet_wnids,
    "image_folder": folders.read_image_folder,
}


def _checked_root(root: str | Path | None) -> Path | None:
    """The absolute DATA root, or None when none is given; a root that is given must exist."""
    if root is None or str(root) == "":
        return None
    root_path = Path(root).expanduser().absolute()
    if not root_path.is_dir():
        raise DataError(
            f"data root {root_path} does not exist; pass the folder that holds the prepared datasets "
            "(see datasets/DATASETS.md)"
        )
    return root_path


def is_spec(card: DatasetCard) -> bool:
    """Whether the card was made from a ``folder:PATH`` / ``csv:PATH`` spec typed by the user."""
    return card.source.startswith(("image_folder:", "csv:"))  # see cards._spec_card


def dataset_dir(card: DatasetCard, root: str | Path | None) -> tuple[Path | None, Path]:
    """The absolute DATA root (None when not used) and the dataset's own folder, both checked.

    The DATA root is only looked at when it is needed: an absolute folder (a custom card, or a spec) never
    needs it, so ``data.dataset=folder:/abs/path`` works whatever ``data.root`` says. A relative path in a
    ``folder:``/``csv:`` spec is what the user typed at a shell, so it is read against the current folder
    first, and under the DATA root only when it is not there (the older meaning, kept working).
    """
    folder = Path(card.folder).expanduser()
    if folder.is_absolute():
        ddir = folder
        root_path = None
    elif is_spec(card) and (folder.absolute().is_dir() or root is None or str(root) == ""):
        ddir = folder.absolute()  # e.g. folder:my_images typed at a shell
        root_path = None
    else:
        root_path = _checked_root(root)
        if root_path is None and card.kind == "custom":
            ddir = folder.absolute()
        elif root_path is None:
            raise DataError(f"{card.name}: no data root given; pass the folder that holds '{card.folder}' "
                            "(data.root=PATH)")
        else:
            ddir = root_path / folder
    if not ddir.is_dir():
        raise DataError(f"{card.name}: dataset folder {ddir} not found; {card.where()}")
    return root_path, ddir


def _drop_missing(card: DatasetCard, raw: RawSplits, strict: bool) -> list[str]:
    """Check that every listed image exists; strict raises, lenient drops and returns the missing paths."""
    missing = missing_files(p for entries in (raw.train, raw.val, raw.test) for p, _, _ in entries)
    if not missing:
        return []
    first = min(missing)
    if strict:
        raise DataError(
            f"{card.name}: {len(missing)} image(s) listed in {raw.source} are missing, e.g. {first}; "
            f"{card.where()}, or set data.strict=false (strict=False in Python) to skip them"
        )
    warnings.warn(
        f"{card.name}: skipping {len(missing)} missing image(s) listed in {raw.source}, e.g. {first}",
        stacklevel=3,
    )
    raw.train, raw.val, raw.test = ([e for e in entries if e[0] not in missing]
                                    for entries in (raw.train, raw.val, raw.test))
    return sorted(missing)


def load_dataset(name: str | Path, root: str | Path | None, *, strict: bool = True) -> DatasetSplits:
    """Read a dataset described by a card.

    ``name`` is a card name (``datasets/<name>.yaml``), a path to a card file, ``folder:PATH`` (an
    image-folder tree) or ``csv:PATH`` (a CSV file); relative paths in cards and specs are under
    ``root``. ``strict`` makes a missing image, class folder or class count mismatch an error; lenient
    loading skips what is missing and lists it in ``skipped``.
    """
    card = resolve_card(name)
    root_path, ddir = dataset_dir(card, root)
    raw = _READERS[card.reader](card, ddir, strict)
    names = [clean_classname(n, card) for n in raw_classnames(raw, card)]
    skipped = list(raw.skipped)
    if raw.listed:
        skipped += _drop_missing(card, raw, strict)
    elif skipped:
        warnings.warn(f"{card.name}: skipped {len(skipped)} folder(s), e.g. {skipped[0]}", stacklevel=2)

    if card.num_classes is not None and card.num_classes != len(names):
        msg = f"{card.name}: expected {card.num_classes} classes but found {len(names)} in {ddir}"
        if strict:
            raise DataError(f"{msg}; finish preparing the dataset ({card.where()}) or set data.strict=false "
                            "(strict=False in Python)")
        warnings.warn(msg, stacklevel=2)
    if not raw.test:
        raise DataError(f"{card.name}: the test split is empty; {card.where()}")

    def build(entries: list[Entry]) -> list[Datum]:
        return [Datum(p, y, names[y]) for p, y, _ in entries]

    splits = DatasetSplits(
        name=card.name,
        train=build(raw.train),
        val=build(raw.val),
        test=build(raw.test),
        classnames=names,
        template=card.template,
        templates=card.all_templates(),
        method_templates=dict(card.method_templates),
        domain_prompts=list(card.domain_prompts),
        domain=card.domain,
        skipped=skipped,
        root=str(root_path) if root_path is not None else "",
        dataset_dir=str(ddir),
    )
    splits.lists_sha256 = lists_digest(splits, ("train", "val", "test"))
    return splits


def lists_digest(splits: DatasetSplits, which: tuple[str, ...]) -> str:
    """SHA-256 of the named lists (paths relative to the dataset folder, labels, class names) and the class
    names: the same on every machine that has the same split, whatever its DATA root is called, so two run
    records can say whether they trained and tested on the same images."""
    base = splits.dataset_dir
    h = hashlib.sha256()
    for split in which:
        h.update(f"[{split}]\n".encode())
        for d in getattr(splits, split):
            rel = os.path.relpath(d.path, base) if base else d.path
            h.update(f"{rel}\t{d.label}\t{d.classname}\n".encode("utf-8", "surrogateescape"))
    h.update(("[classnames]\n" + "\n".join(splits.classnames)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()
