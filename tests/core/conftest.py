"""Fixtures for core tests: a tiny random open_clip model built from a config dict (no download)."""

from __future__ import annotations

import pytest
import torch

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
    "preprocess_cfg": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
}


@pytest.fixture(scope="session")
def tiny_clip():
    from vlcat.clip import load_clip

    torch.manual_seed(0)
    return load_clip("tiny-test", model_config=TINY_CFG)


COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 220), "yellow": (230, 220, 30)}


def write_tiny_dataset(root, n_train: int = 6, n_val: int = 4, n_test: int = 4, size: int = 40):
    """Real PNG files in CoOp's split_json layout plus a card file; returns the card path.

    Each class is a colour; images vary by noise and a bright square's position so crops differ.
    """
    import json
    from pathlib import Path

    import numpy as np
    from PIL import Image

    root = Path(root)
    ddir = root / "tiny"
    rng = np.random.default_rng(0)
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for label, (name, rgb) in enumerate(COLORS.items()):
        (ddir / "images" / name).mkdir(parents=True, exist_ok=True)
        for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            for i in range(n):
                arr = np.clip(rng.normal(rgb, 25, size=(size, size, 3)), 0, 255).astype(np.uint8)
                x, y = rng.integers(0, size - 10, size=2)
                arr[y:y + 10, x:x + 10] = 255
                rel = f"{name}/{part}_{i}.png"
                Image.fromarray(arr).save(ddir / "images" / rel)
                split[part].append([rel, label, name])
    (ddir / "split_tiny.json").write_text(json.dumps(split))
    card = root / "tiny.yaml"
    card.write_text(
        "name: tiny\nreader: split_json\nfolder: tiny\nimage_dir: images\nsplit_file: split_tiny.json\n"
        "paths_relative_to: image_dir\ntemplate: 'a photo of a {}.'\n"
        "templates: ['a photo of a {}.', 'a {} thing.']\ndomain: 'colours'\nprepare: 'tiny fixture'\n"
    )
    return card


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    card = write_tiny_dataset(root)
    return root, card


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """The tiny config as a JSON file, as a user would pass it via model.config."""
    import json

    path = tmp_path_factory.mktemp("model") / "tiny.json"
    path.write_text(json.dumps(TINY_CFG))
    return path
