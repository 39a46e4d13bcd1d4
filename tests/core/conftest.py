"""Fixtures for core tests: a tiny random open_clip model and a tiny PNG dataset (no download)."""

from __future__ import annotations

import pytest
import torch

from vlcat.testing import TINY_CFG, write_tiny_dataset


@pytest.fixture(scope="session")
def tiny_clip():
    from vlcat.clip import load_clip

    torch.manual_seed(0)
    return load_clip("tiny-test", model_config=TINY_CFG)


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
