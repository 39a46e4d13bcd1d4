"""File-system helpers shared by the readers.

Listings are sorted so that the item order (and therefore a seeded few-shot sample) does not depend on
the file system; CoOp lists image folders unsorted, which makes its ImageNet samples machine-dependent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vlcat.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})

def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_images(folder: str | Path) -> list[str]:
    """Absolute paths of the image files directly inside ``folder``, sorted by name."""
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if is_image_name(e.name) and e.is_file())
    return [os.path.join(str(folder), n) for n in names]


def list_subdirs(folder: str | Path) -> list[str]:
    """Names of the non-hidden sub-folders of ``folder``, sorted.

    Folder names become class names, which go into prompts, JSON records and cache keys, so a name
    that is not valid UTF-8 (Python holds it with surrogate escapes) is refused here, naming the folder.
    """
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(name)
            raise DataError(f"folder {raw!r} in {folder} is not a valid UTF-8 name; rename it (class names "
                            "must be text)") from None
    return names


def read_lines(path: Path, what: str, hint: str) -> list[str]:
    """Non-empty stripped lines of a text file; a missing file is a DataError that says how to get it."""
    if not path.is_file():
        raise DataError(f"{what} {path} is missing; {hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {path} ({exc}); check the file") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def missing_files(paths: Iterable[str]) -> set[str]:
    """The paths that do not exist, found by listing each parent folder once.

    One ``scandir`` per folder instead of one ``stat`` per image keeps a strict check of a 100k-image
    split fast on network file systems.
    """
    listing: dict[str, set[str] | None] = {}
    missing: set[str] = set()
    for p in paths:
        parent, base = os.path.split(p)
        if parent not in listing:
            try:
                with os.scandir(parent) as it:
                    listing[parent] = {e.name for e in it}
            except OSError:
                listing[parent] = None
        names = listing[parent]
        if names is None or base not in names:
            missing.add(p)
    return missing
