"""Image decoding with errors that name the file.

Strict datasets raise on the first undecodable image. Lenient datasets (``strict=False``) keep their
length and labels intact by serving another image of the same class instead, warn once per bad file,
and record it in ``failed``; a class with no decodable image at all is still an error, since training
on it would be meaningless. ``failed`` is per process: with DataLoader workers each worker has its own,
so use ``find_undecodable`` up front when an exact list is needed for a run record.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vlcat.data.types import Datum
from vlcat.errors import DataError


def load_image(path: str) -> Image.Image:
    """Decode ``path`` fully (so truncation is caught here, not later in a transform) as RGB."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise DataError(f"image {path} does not exist; re-prepare the dataset or set data.strict=false "
                        "(strict=False in Python)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"cannot decode image {path} ({reason}); replace it or set data.strict=false "
                        "(strict=False in Python)") from exc


def find_undecodable(items: Sequence[Datum]) -> list[str]:
    """Paths of the items that cannot be decoded (slow: decodes everything; for lenient run records)."""
    bad = []
    for d in items:
        try:
            load_image(d.path)
        except DataError:
            bad.append(d.path)
    return bad


class ImageDataset(torch.utils.data.Dataset):
    """``(transform(image), label)`` pairs for a list of ``Datum``."""

    def __init__(self, items: Sequence[Datum], transform: Callable[[Image.Image], Any] | None = None,
                 strict: bool = True) -> None:
        self.items = list(items)
        self.transform = transform
        self.strict = strict
        self.failed: list[str] = []
        self._by_label: dict[int, list[int]] = {}
        for i, d in enumerate(self.items):
            self._by_label.setdefault(d.label, []).append(i)

    def __len__(self) -> int:
        return len(self.items)

    def _convert(self, image: Image.Image) -> Any:
        if self.transform is not None:
            return self.transform(image)
        # torchvision's to_tensor without importing torchvision: CHW float in [0, 1]
        return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0)

    def _substitute(self, index: int) -> Image.Image:
        """The next decodable image of the same class, scanning cyclically from ``index``."""
        d = self.items[index]
        same = self._by_label[d.label]
        start = same.index(index)
        for j in same[start + 1 :] + same[:start]:
            path = self.items[j].path
            if path in self.failed:
                continue
            try:
                return load_image(path)
            except DataError:
                self._record(path)
        raise DataError(
            f"no image of class {d.classname!r} (label {d.label}) decodes, e.g. {d.path}; fix the dataset"
        )

    def _record(self, path: str) -> None:
        if path not in self.failed:
            self.failed.append(path)
            warnings.warn(f"cannot decode {path}; using another image of the same class", stacklevel=3)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        d = self.items[index]
        try:
            image = load_image(d.path)
        except DataError:
            if self.strict:
                raise
            self._record(d.path)
            image = self._substitute(index)
        return self._convert(image), d.label
