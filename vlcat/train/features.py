"""Image features, computed once and cached on disk.

Learners that change only the text side never need the image tower after the features exist, so each
training image is encoded once per augmentation view and each test image once. Every augmentation is
drawn from a seed derived from (run seed, view, image index) rather than from a shared random stream;
that makes a cached view identical to what the live path (``train.feature_cache=false``) computes at that
epoch, and makes a resumed run draw the same crops as an uninterrupted one.

Cache files are keyed by the model identity, the exact items (paths, labels, file sizes and mtimes), the
transform, the view and the seed, so a stale cache cannot be read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vlcat.clip import ClipBundle
from vlcat.data import Datum, load_image
from vlcat.precision import image_input, resolve_precision
from vlcat.rundir import atomic_write_bytes
from vlcat.train.progress import is_terminal


def view_seed(seed: int, view: int, index: int) -> int:
    """A per-image augmentation seed; distinct for every (seed, view, index) triple."""
    digest = hashlib.blake2b(f"{seed}:{view}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class SeededImages(Dataset):
    """Images through a transform; with ``seed`` set, each item's random draws come from its own seed."""

    def __init__(self, items: Sequence[Datum], transform, seed: int | None = None, view: int = 0) -> None:
        self.items = list(items)
        self.transform = transform
        self.seed = seed
        self.view = view

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        item = self.items[index]
        image = load_image(item.path)
        if self.seed is None:
            return self.transform(image), item.label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(view_seed(self.seed, self.view, index))
            return self.transform(image), item.label


def autocast_for(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The frozen image tower's context for ``precision`` on ``device``: bf16 autocast under ``amp_bf16``
    (``auto`` on CUDA), nothing otherwise. Kept for callers that hold a device and a config string; code
    that has the bundle uses :func:`vlcat.precision.image_autocast`. Never wrap the learned text path in it."""
    if resolve_precision(precision, device) == "amp_bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _precision_of(clip: ClipBundle, precision: str | None) -> str:
    """The bundle's precision; a caller's explicit one must agree with the dtype of the weights."""
    name = clip.precision if precision is None else resolve_precision(precision, clip.device)
    if (name == "fp16") != (clip.dtype == torch.float16):
        raise ValueError(f"precision {name} does not match CLIP's {clip.dtype} weights; "
                         "use vlcat.precision.apply_precision on the bundle")
    return name


@torch.no_grad()
def encode_images(
    clip: ClipBundle,
    items: Sequence[Datum],
    transform,
    *,
    seed: int | None = None,
    view: int = 0,
    batch_size: int = 128,
    num_workers: int = 0,
    precision: str | None = None,
    desc: str | None = None,
) -> torch.Tensor:
    """Unnormalised image features ``[N, E]``, in item order, stored as float32.

    The image tower runs at the bundle's precision (``precision`` defaults to ``clip.precision``): bf16
    autocast under amp_bf16, half weights and half images under fp16 (whose features float32 holds exactly).
    """
    name = _precision_of(clip, precision)
    loader = DataLoader(SeededImages(items, transform, seed, view), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers)
    out = []
    with autocast_for(clip.device, name):
        # a bar only on a terminal: in a log file tqdm's "\r" updates pile up on one line (issue 21)
        for images, _ in tqdm(loader, desc=desc, leave=False, disable=desc is None or not is_terminal(sys.stderr)):
            out.append(clip.model.encode_image(image_input(clip, images)).float().cpu())
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


def items_fingerprint(items: Sequence[Datum]) -> str:
    """Hash of the exact images and labels, including file size and mtime, so edits invalidate caches."""
    h = hashlib.sha256()
    for it in items:
        try:
            st = os.stat(it.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{it.path}\0{it.label}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class FeatureCache:
    """Disk cache of image features (``torch.save`` of one tensor; loaded with ``weights_only=True``)."""

    def __init__(self, cache_dir: str | Path | None, enabled: bool = True) -> None:
        self.enabled = enabled and cache_dir is not None
        self.dir = Path(cache_dir) / "features" if cache_dir is not None else None
        self.hits = 0
        self.misses = 0

    def key(self, clip: ClipBundle, items_hash: str, transform, seed: int | None, view: int,
            precision: str | None = None) -> str:
        """Cache key; the *resolved* precision is part of it (fp32, amp_bf16 and fp16 features differ)."""
        spec = {"model": clip.model_id, "items": items_hash, "transform": repr(transform), "seed": seed,
                "view": view, "precision": _precision_of(clip, precision)}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def get(self, key: str) -> torch.Tensor | None:
        if not self.enabled:
            return None
        path = self.dir / f"{key}.pt"
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
            return None

    def put(self, key: str, feats: torch.Tensor) -> None:
        if not self.enabled:
            return
        atomic_write_bytes(self.dir / f"{key}.pt", lambda tmp: torch.save(feats, tmp))

    def features(self, clip: ClipBundle, items: Sequence[Datum], transform, *, seed: int | None = None,
                 view: int = 0, batch_size: int = 128, num_workers: int = 0, precision: str | None = None,
                 items_hash: str | None = None, desc: str | None = None) -> torch.Tensor:
        key = self.key(clip, items_hash or items_fingerprint(items), transform, seed, view, precision)
        cached = self.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        if not self.enabled:
            self.misses += 1
            return encode_images(clip, items, transform, seed=seed, view=view, batch_size=batch_size,
                                 num_workers=num_workers, precision=precision, desc=desc)
        # Sweep runs in parallel processes (Ray) ask for the same features: one computes them under a lock
        # per key, the others wait and read its file instead of encoding the same images again. The file
        # itself is written atomically, so a reader never sees half of it even without the lock.
        from filelock import FileLock

        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.dir / f".{key}.lock")):
            cached = self.get(key)
            if cached is not None:
                self.hits += 1
                return cached
            self.misses += 1
            feats = encode_images(clip, items, transform, seed=seed, view=view, batch_size=batch_size,
                                  num_workers=num_workers, precision=precision, desc=desc)
            self.put(key, feats)
        return feats


def batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[torch.Tensor]:
    """This epoch's shuffled index batches; a pure function of (seed, epoch) so resume is exact.

    The last partial batch is dropped when the set holds at least one full batch (Dassl's rule).
    """
    gen = torch.Generator().manual_seed(view_seed(seed, 1_000_003 + epoch, 0))
    perm = torch.randperm(n, generator=gen)
    drop_last = n >= batch_size
    stop = (n // batch_size) * batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield perm[start:start + batch_size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size if n >= batch_size else (1 if n else 0)
