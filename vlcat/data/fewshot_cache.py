"""The few-shot sample cache: plain JSON, written atomically, keyed so it can never be reused wrongly.

The key holds the dataset name, DATA root, a digest of the full train/val lists (so any change to the
split file, the images found on disk or the lenient-mode skips counts, not just an mtime), K, seed and
``repeat``. A digest of the key is in the file name, and the whole key is compared again on load, so a
renamed or hand-edited file is ignored rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

from vlcat.data.types import DatasetSplits, Datum
from vlcat.errors import DataError
from vlcat.rundir import atomic_write_bytes

FORMAT = "vlcat-fewshot/1"


def content_digest(splits: DatasetSplits) -> str:
    """SHA-256 of what sampling reads: the train and val lists in order, and the class names."""
    h = hashlib.sha256()
    for split, items in (("train", splits.train), ("val", splits.val)):
        h.update(f"[{split}]\n".encode())
        h.update("\n".join(f"{d.path}\t{d.label}\t{d.classname}" for d in items).encode("utf-8", "surrogateescape"))
    h.update(b"[classnames]\n")
    h.update("\n".join(splits.classnames).encode())
    return h.hexdigest()


def cache_key(splits: DatasetSplits, num_shots: int, seed: int, repeat: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "dataset": splits.name,
        "root": splits.root,
        "dataset_dir": splits.dataset_dir,
        "content_sha256": content_digest(splits),
        "num_shots": num_shots,
        "seed": seed,
        "repeat": repeat,
    }


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def cache_path(splits: DatasetSplits, cache_dir: Path, key: dict[str, Any]) -> Path:
    """``<cache_dir>/<dataset>_k<K>_seed<S>[_repeat]_<key digest>.json``; never inside the data root."""
    cache_dir = Path(cache_dir).expanduser().resolve()
    for data in (splits.root, splits.dataset_dir):
        if data and _inside(cache_dir, Path(data).resolve()):
            raise DataError(
                f"few-shot cache folder {cache_dir} is inside the data root {data}; use a folder outside it"
            )
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", splits.name)
    rep = "_repeat" if key["repeat"] else ""
    return cache_dir / f"{name}_k{key['num_shots']}_seed{key['seed']}{rep}_{digest}.json"


def _rows(items: list[Datum], base: str) -> list[list]:
    prefix = base.rstrip(os.sep) + os.sep if base else None
    return [[d.path[len(prefix):] if prefix and d.path.startswith(prefix) else d.path, d.label, d.classname]
            for d in items]


def _datums(rows: Any, base: str) -> list[Datum]:
    if not isinstance(rows, list):
        raise ValueError("split is not a list")
    out = []
    for path, label, classname in rows:
        if not (isinstance(path, str) and isinstance(label, int) and isinstance(classname, str)):
            raise ValueError(f"bad row {path!r}")
        out.append(Datum(os.path.join(base, path) if base else path, label, classname))
    return out


def load_cached(
    path: Path, key: dict[str, Any], splits: DatasetSplits
) -> tuple[list[Datum], list[Datum]] | None:
    """The cached (train, val) for ``key``, or None when absent, unreadable, stale or not a subset."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            raise ValueError("its key does not match this dataset, K, seed and options")
        train = _datums(data["train"], splits.dataset_dir)
        val = _datums(data["val"], splits.dataset_dir)
        if not set(train) <= set(splits.train) or not set(val) <= set(splits.val):
            raise ValueError("it lists images that are not in the split")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"ignoring few-shot cache {path} ({exc}); sampling again", stacklevel=3)
        return None
    return train, val


def _dump(data: dict[str, Any], tmp: str) -> None:
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def save_cached(path: Path, key: dict[str, Any], splits: DatasetSplits, train: list[Datum],
                val: list[Datum]) -> None:
    """Write via a temporary file and rename, so a crash never leaves a partial cache behind."""
    data = {"key": key, "train": _rows(train, splits.dataset_dir), "val": _rows(val, splits.dataset_dir)}
    try:
        atomic_write_bytes(path, lambda tmp: _dump(data, tmp))
    except OSError as exc:
        raise DataError(f"cannot write few-shot cache {path} ({exc}); choose a writable cache_dir") from exc
