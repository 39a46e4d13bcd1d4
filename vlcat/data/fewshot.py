"""K-shot sampling that reproduces CoOp's splits for the same seed.

CoOp (through Dassl's ``generate_fewshot_dataset``) seeds Python's ``random`` with the run seed, groups
the training list by label in order of first appearance, takes ``random.sample(items, K)`` per label
(``random.choices(items, k=K)`` when a class is short and repeats are allowed, else the whole class),
then does the same for the validation list with ``min(K, 4)`` shots, continuing the same generator.
A private ``random.Random(seed)`` gives the same draws without touching global state.

CoOp calls Dassl's ``generate_fewshot_dataset`` with its default ``repeat=False``, so a class with fewer
than K images keeps all of them. vlcat's defaults are the same (``repeat=False``, ``on_too_few="warn"``:
keep them all, with a warning that names the shortest class); ``on_too_few="error"`` refuses such a
class instead, and ``repeat=True`` draws K with replacement (Dassl's ``random.choices``).
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections import Counter
from pathlib import Path

from vlcat.data.fewshot_cache import cache_key, cache_path, load_cached, save_cached
from vlcat.data.types import DatasetSplits, Datum
from vlcat.errors import DataError

ALL_SHOTS = -1  # num_shots value meaning "use the full split" (no sampling, no cache)
MAX_VAL_SHOTS = 4  # CoOp's cap on validation shots per class
ON_TOO_FEW = ("error", "warn")


def _group_by_label(items: list[Datum]) -> dict[int, list[Datum]]:
    groups: dict[int, list[Datum]] = {}
    for d in items:
        groups.setdefault(d.label, []).append(d)
    return groups


def _check_counts(splits: DatasetSplits, items: list[Datum], split: str, k: int, repeat: bool,
                  on_too_few: str) -> None:
    """Fail (or warn) before drawing anything when a class has fewer than ``k`` images."""
    counts = Counter(d.label for d in items)
    short = [(counts.get(y, 0), y) for y in range(len(splits.classnames))
             if counts.get(y, 0) < k and not (repeat and counts.get(y, 0) > 0)]
    if not short:
        return
    n, y = min(short)
    what = f"class {splits.classnames[y]!r} (label {y}) has only {n} {split} image(s)"
    if on_too_few == "error":
        raise DataError(
            f"{splits.name}: {what} but {k} are needed per class; lower num_shots, allow repeats, "
            "or set on_too_few to warn"
        )
    warnings.warn(
        f"{splits.name}: {len(short)} class(es) have fewer than {k} {split} images, e.g. {what}; "
        "using all of them",
        stacklevel=3,
    )


def _draw(items: list[Datum], k: int, rng: random.Random, repeat: bool) -> list[Datum]:
    out: list[Datum] = []
    for group in _group_by_label(items).values():
        if len(group) >= k:
            out.extend(rng.sample(group, k))
        elif repeat:
            out.extend(rng.choices(group, k=k))
        else:
            out.extend(group)
    return out


def sample_fewshot(
    splits: DatasetSplits,
    num_shots: int,
    seed: int,
    cache_dir: str | Path | None,
    *,
    repeat: bool = False,
    on_too_few: str = "warn",
) -> DatasetSplits:
    """A copy of ``splits`` with K images per class in train and min(K, 4) in val; test is untouched.

    ``num_shots=-1`` (``ALL_SHOTS``) returns the full split. With ``cache_dir`` the sample is stored as
    JSON keyed by dataset, root, split content, K, seed and options, so a rerun reads it back and any
    change to those draws a new one.
    """
    bad_k = not isinstance(num_shots, int) or isinstance(num_shots, bool)
    if bad_k or (num_shots <= 0 and num_shots != ALL_SHOTS):
        raise DataError(f"num_shots must be a positive integer ({ALL_SHOTS} = full split), got {num_shots!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise DataError(f"seed must be an integer, got {seed!r}")
    if on_too_few not in ON_TOO_FEW:
        raise DataError(f"on_too_few must be one of {', '.join(ON_TOO_FEW)}, got {on_too_few!r}")
    if num_shots == ALL_SHOTS:
        return dataclasses.replace(splits)
    if splits.subset != "all":
        raise DataError(
            f"{splits.name}: sample few-shot data before subsample_classes (CoOp samples over all classes)"
        )
    if not splits.train:
        raise DataError(f"{splits.name} has no training split (evaluation only); train on another dataset")

    k_val = min(num_shots, MAX_VAL_SHOTS)
    _check_counts(splits, splits.train, "train", num_shots, repeat, on_too_few)
    # val is never an error: like CoOp, a class with fewer than min(K, 4) val images keeps all it has
    path = key = None
    if cache_dir is not None:
        key = cache_key(splits, num_shots, seed, repeat)
        path = cache_path(splits, Path(cache_dir), key)
        cached = load_cached(path, key, splits)
        if cached is not None:
            train, val = cached
            return dataclasses.replace(splits, train=train, val=val, num_shots=num_shots, seed=seed)

    rng = random.Random(seed)
    train = _draw(splits.train, num_shots, rng, repeat)
    val = _draw(splits.val, k_val, rng, repeat)
    if path is not None and key is not None:
        save_cached(path, key, splits, train, val)
    return dataclasses.replace(splits, train=train, val=val, num_shots=num_shots, seed=seed)
