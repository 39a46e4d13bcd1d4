"""Image decoding: RGB output, errors naming the file, lenient substitution."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from vlcat.data import Datum, ImageDataset, find_undecodable, load_image
from vlcat.errors import DataError


def test_load_image_converts_to_rgb(tmp_path):
    p = tmp_path / "gray.png"
    Image.new("L", (5, 3), 7).save(p)
    im = load_image(str(p))
    assert im.mode == "RGB" and im.size == (5, 3)


def test_missing_and_corrupt_images_name_the_path(tmp_path, build):
    with pytest.raises(DataError, match=r"image .*nope\.png does not exist"):
        load_image(str(tmp_path / "nope.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"cannot decode image .*bad\.jpg"):
        load_image(str(bad))
    good = build.image(tmp_path / "big.png", 3)
    truncated = tmp_path / "trunc.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataError, match="trunc.png"):
        load_image(str(truncated))


def _items(tmp_path, build):
    items = []
    for y in range(2):
        for i in range(3):
            p = build.image(tmp_path / f"{y}_{i}.png", y * 3 + i)
            items.append(Datum(str(p), y, f"c{y}"))
    return items


def test_image_dataset_strict(tmp_path, build):
    items = _items(tmp_path, build)
    ds = ImageDataset(items, transform=None)
    x, y = ds[4]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 4, 4) and y == 1 and len(ds) == 6
    ds = ImageDataset(items, transform=lambda im: im.size)
    assert ds[0] == ((4, 4), 0)
    (tmp_path / "1_1.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="1_1.png"):
        ImageDataset(items)[4]


def test_image_dataset_lenient_substitutes_same_class(tmp_path, build):
    items = _items(tmp_path, build)
    (tmp_path / "1_1.png").write_bytes(b"garbage")
    (tmp_path / "1_2.png").unlink()
    ds = ImageDataset(items, transform=lambda im: im.getpixel((0, 0)), strict=False)
    with pytest.warns(UserWarning) as record:
        x, y = ds[4]
    assert ["1_1.png" in str(w.message) for w in record] == [True, False]
    assert y == 1 and x == Image.open(tmp_path / "1_0.png").convert("RGB").getpixel((0, 0))
    assert ds.failed == [items[4].path, items[5].path]
    assert ds[0][1] == 0
    assert find_undecodable(items) == [items[4].path, items[5].path]
    (tmp_path / "1_0.png").write_bytes(b"")
    with pytest.raises(DataError, match="no image of class 'c1'"), pytest.warns(UserWarning):
        ds[3]
