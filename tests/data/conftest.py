"""Builders of small real dataset trees (tiny PNG/JPEG files plus split files in the real formats).

Fixture trees use the shipped cards, copied with ``num_classes`` set to the fixture's class count, so
the tests exercise the real card contents (folders, file names, clean-ups) on a few images.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from PIL import Image

CARDS = Path(__file__).resolve().parents[2] / "datasets"


def write_image(path: Path, seed: int = 0, fmt: str | None = None) -> Path:
    """A 4x4 image whose colour depends on ``seed``, so different files have different bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)
    Image.new("RGB", (4, 4), color).save(path, format=fmt)
    return path


def card_copy(dest: Path, name: str, **changes) -> Path:
    """A copy of ``datasets/<name>.yaml`` with keys changed (``None`` deletes a key)."""
    data = yaml.safe_load((CARDS / f"{name}.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def split_json_tree(root: Path, name: str, classes: list[str], counts=(5, 2, 3), rel_prefix: str = "") -> Path:
    """A split_json dataset laid out as card ``name`` says; returns the card copy.

    Class ``i`` gets ``counts`` train/val/test images; the split lists them class-interleaved, as real
    split files are not grouped by class.
    """
    card = yaml.safe_load((CARDS / f"{name}.yaml").read_text())
    ddir = root / card["folder"]
    base = ddir if card.get("paths_relative_to") == "folder" else ddir / card.get("image_dir", ".")
    split: dict[str, list] = {}
    seed = 0
    for split_name, n in zip(("train", "val", "test"), counts, strict=True):
        rows = []
        for j in range(n):
            for label, cname in enumerate(classes):
                rel = f"{rel_prefix}{cname}/{split_name}_{j}.png"
                seed += 1
                write_image(base / rel, seed)
                rows.append([rel, label, cname])
        split[split_name] = rows
    (ddir / card["split_file"]).write_text(json.dumps(split))
    return card_copy(root.parent / "cards", name, num_classes=len(classes))


def imagenet_classnames(path: Path, wnids: list[str], names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w} {n}\n" for w, n in zip(wnids, names, strict=True)))


WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475"]
INAMES = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark"]


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "DATA"
    root.mkdir()
    return root


@pytest.fixture
def build() -> SimpleNamespace:
    return SimpleNamespace(
        image=write_image,
        card_copy=card_copy,
        split_json_tree=split_json_tree,
        imagenet_classnames=imagenet_classnames,
        WNIDS=WNIDS,
        INAMES=INAMES,
    )
