"""Class lists: consistency of labels and names, the card's name clean-ups, and the base/novel split."""

from __future__ import annotations

import dataclasses
import math

from vlcat.data.cards import DatasetCard
from vlcat.data.raw import RawSplits
from vlcat.data.types import DatasetSplits, Datum
from vlcat.errors import DataError

SUBSETS = ("all", "base", "novel")


def raw_classnames(raw: RawSplits, card: DatasetCard) -> list[str]:
    """The raw name of every label, checked across all three splits.

    A label with two names, or labels that are not exactly 0..n-1, mean the split file is broken and
    would silently train against the wrong prompts, so both are errors.
    """
    if raw.classnames is not None:
        return list(raw.classnames)
    names: dict[int, str] = {}
    for entries in (raw.train, raw.val, raw.test):
        for _, label, name in entries:
            seen = names.setdefault(label, name)
            if seen != name:
                raise DataError(
                    f"{card.name}: label {label} is called both {seen!r} and {name!r} in {raw.source}; "
                    "fix the split file"
                )
    if not names:
        raise DataError(f"{card.name}: {raw.source} lists no images; {card.where()}")
    bad = [y for y in names if y < 0]
    if bad:
        raise DataError(f"{card.name}: negative label {bad[0]} in {raw.source}; labels must be 0..n-1")
    gaps = sorted(set(range(max(names) + 1)) - set(names))
    if gaps:
        raise DataError(
            f"{card.name}: labels in {raw.source} are not 0..{max(names)}: no image has label {gaps[0]}"
            f"{f' (and {len(gaps) - 1} more)' if len(gaps) > 1 else ''}; fix the split file"
        )
    return [names[y] for y in range(len(names))]


def clean_classname(name: str, card: DatasetCard) -> str:
    """The prompt-ready form of a raw class name: the card's fixes first, then underscores to spaces."""
    name = card.classname_fixes.get(name, name)
    if card.replace_underscores:
        name = name.replace("_", " ")
    return " ".join(name.split())


def subsample_classes(splits: DatasetSplits, subset: str) -> DatasetSplits:
    """Keep the base (first ceil(n/2) labels) or novel (the rest) classes, relabelled 0..m-1.

    This is CoCoOp's base-to-novel protocol. Call it after ``sample_fewshot``: CoOp samples shots over
    all classes first, and sampling after subsampling would draw different images for the same seed.
    The classes are counted from ``classnames`` (CoCoOp counts the labels in its train list, which is
    the same whenever every class has a training image).
    """
    if subset == "new":  # CoCoOp's spelling
        subset = "novel"
    if subset not in SUBSETS:
        raise DataError(f"class subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    if subset == "all":
        return dataclasses.replace(splits)
    if splits.subset != "all":
        raise DataError(f"{splits.name} is already the {splits.subset} subset; subsample the full dataset")
    n = len(splits.classnames)
    if n < 2:
        raise DataError(f"{splits.name} has {n} class(es); a base/novel split needs at least 2")
    m = math.ceil(n / 2)
    lo, hi = (0, m) if subset == "base" else (m, n)

    def keep(items: list[Datum]) -> list[Datum]:
        return [Datum(d.path, d.label - lo, d.classname) for d in items if lo <= d.label < hi]

    return dataclasses.replace(
        splits,
        train=keep(splits.train),
        val=keep(splits.val),
        test=keep(splits.test),
        classnames=splits.classnames[lo:hi],
        subset=subset,
    )


def classes_without_images(splits: DatasetSplits, which: tuple[str, ...] = ("val", "test")) -> dict[str, list[str]]:
    """Per split in ``which``, the names of the classes that have no image in it.

    A class with fewer images than the split ratios need (or than K, once sampled) can end up with no
    validation or test image; its accuracy is then silently missing from the score, so runs name these
    classes. A split that holds no image at all (a dataset without a validation split) lists none: that
    is the split's absence, already visible in its size, not a class dropping out.
    """
    out: dict[str, list[str]] = {}
    for split in which:
        items = getattr(splits, split)
        present = {d.label for d in items}
        out[split] = [name for y, name in enumerate(splits.classnames) if items and y not in present]
    return out
