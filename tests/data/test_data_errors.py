"""Every user-facing data problem is a one-line DataError that says what is wrong and what to do."""

from __future__ import annotations

import json
import shutil

import pytest

from vlcat.data import load_dataset
from vlcat.errors import DataError, VlcatError


def _raises(pattern, fn, *args, **kwargs) -> str:
    with pytest.raises(DataError, match=pattern) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, VlcatError)
    return msg


def test_missing_data_root(tmp_path):
    _raises(r"data root .*nowhere does not exist", load_dataset, "oxford_pets", tmp_path / "nowhere")


def test_missing_dataset_folder(data_root):
    msg = _raises("dataset folder .*oxford_pets not found", load_dataset, "oxford_pets", data_root)
    assert "DATASETS.md, section 'OxfordPets'" in msg


def test_missing_split_file_names_file_and_section(data_root, build):
    card = build.split_json_tree(data_root, "oxford_pets", ["a", "b"], counts=(1, 1, 1))
    (data_root / "oxford_pets" / "split_zhou_OxfordPets.json").unlink()
    msg = _raises("split file .*split_zhou_OxfordPets.json is missing", load_dataset, card, data_root)
    assert "section 'OxfordPets'" in msg


def test_missing_image_strict_and_lenient(data_root, build):
    card = build.split_json_tree(data_root, "oxford_pets", ["a", "b"], counts=(3, 1, 1))
    gone = data_root / "oxford_pets" / "images" / "b" / "train_1.png"
    gone.unlink()
    msg = _raises(r"1 image\(s\) listed in .* are missing, e.g. .*b/train_1.png", load_dataset, card, data_root)
    assert "strict=False" in msg
    with pytest.warns(UserWarning, match="skipping 1 missing"):
        s = load_dataset(card, data_root, strict=False)
    assert s.skipped == [str(gone)] and len(s.train) == 5 and s.classnames == ["a", "b"]


def test_label_with_two_names(data_root, build):
    card = build.split_json_tree(data_root, "dtd", ["banded", "dotted"], counts=(2, 1, 1))
    path = data_root / "dtd" / "split_zhou_DescribableTextures.json"
    split = json.loads(path.read_text())
    split["test"][1][2] = "striped"
    path.write_text(json.dumps(split))
    _raises(r"label 1 is called both 'dotted' and 'striped'", load_dataset, card, data_root)


def test_label_gap_and_bad_rows(data_root, build):
    card = build.split_json_tree(data_root, "dtd", ["banded", "dotted"], counts=(2, 1, 1))
    path = data_root / "dtd" / "split_zhou_DescribableTextures.json"
    split = json.loads(path.read_text())
    for rows in split.values():
        for r in rows:
            r[1] = 2 if r[1] == 1 else 0
    path.write_text(json.dumps(split))
    _raises(r"not 0..2: no image has label 1", load_dataset, card, data_root)
    split["train"][0] = ["x.png", "0", "banded"]
    path.write_text(json.dumps(split))
    _raises(r"train\[0\] must be \[path, label, classname\]", load_dataset, card, data_root)
    path.write_text("{broken")
    _raises("not valid JSON", load_dataset, card, data_root)


def test_class_count_mismatch(data_root, build):
    build.split_json_tree(data_root, "oxford_pets", ["a", "b"], counts=(1, 1, 1))
    card = build.card_copy(data_root.parent / "cards", "oxford_pets")  # the real card: 37 classes
    _raises("expected 37 classes but found 2", load_dataset, card, data_root)
    with pytest.warns(UserWarning, match="expected 37 classes"):
        assert load_dataset(card, data_root, strict=False).num_classes == 2


def test_fgvc_unknown_variant_and_missing_list(data_root, build):
    ddir = data_root / "fgvc_aircraft"
    ddir.mkdir()
    (ddir / "variants.txt").write_text("707-320\n")
    for split in ("train", "val", "test"):
        build.image(ddir / "images" / f"1{split}.jpg", 1, fmt="JPEG")
        (ddir / f"images_variant_{split}.txt").write_text(f"1{split} 707-320\n")
    card = build.card_copy(data_root.parent / "cards", "fgvc_aircraft", num_classes=1)
    assert load_dataset(card, data_root).sizes() == {"train": 1, "val": 1, "test": 1}
    (ddir / "images_variant_val.txt").write_text("1val 747-400\n")
    _raises(r"images_variant_val.txt:1 names class '747-400'", load_dataset, card, data_root)
    (ddir / "images_variant_val.txt").unlink()
    _raises("images_variant_val.txt is missing.*FGVCAircraft", load_dataset, card, data_root)


def test_imagenet_folder_problems(data_root, build):
    ddir = data_root / "imagenet"
    card = build.card_copy(data_root.parent / "cards", "imagenet", num_classes=5)
    ddir.mkdir()
    _raises("class-name file .*classnames.txt is missing", load_dataset, card, data_root)
    build.imagenet_classnames(ddir / "classnames.txt", build.WNIDS, build.INAMES)
    for split in ("train", "val"):
        for w in build.WNIDS:
            build.image(ddir / "images" / split / w / "0.png", 0)
    assert load_dataset(card, data_root).sizes() == {"train": 5, "val": 0, "test": 5}
    shutil.rmtree(ddir / "images" / "val" / build.WNIDS[2])
    _raises(f"class folder .*val/{build.WNIDS[2]} is missing", load_dataset, card, data_root)
    with pytest.warns(UserWarning):
        s = load_dataset(card, data_root, strict=False)
    assert s.skipped == [str(ddir / "images" / "val" / build.WNIDS[2])] and len(s.test) == 4
    build.image(ddir / "images" / "val" / build.WNIDS[2] / "0.png", 0)
    build.image(ddir / "images" / "val" / "n99999999" / "0.png", 0)
    _raises("n99999999 is not a class", load_dataset, card, data_root)
    shutil.rmtree(ddir / "images" / "val")
    for w in build.WNIDS:
        build.image(ddir / "images" / "val" / f"{w}.png", 0)
    _raises("holds images directly; sort them into class folders", load_dataset, card, data_root)


def test_custom_folder_problems(tmp_path, build):
    _raises("dataset folder .*none not found", load_dataset, f"folder:{tmp_path / 'none'}", None)
    (tmp_path / "f" / "empty_class").mkdir(parents=True)
    for i in range(10):
        build.image(tmp_path / "f" / "cat" / f"{i}.png", i)
    _raises("class folder .*empty_class has no images", load_dataset, f"folder:{tmp_path / 'f'}", None)
    with pytest.warns(UserWarning):
        s = load_dataset(f"folder:{tmp_path / 'f'}", None, strict=False)
    assert s.classnames == ["cat"] and s.skipped == [str(tmp_path / "f" / "empty_class")]


def test_empty_test_split(data_root, build):
    card = build.split_json_tree(data_root, "dtd", ["banded"], counts=(1, 1, 0))
    _raises("test split is empty", load_dataset, card, data_root)


def test_benchmark_card_needs_root(build):
    _raises("no data root given", load_dataset, "dtd", None)
