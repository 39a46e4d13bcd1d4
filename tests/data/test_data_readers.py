"""Every reader on a small real tree: counts, labels, class names, paths."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from vlcat.data import Datum, load_dataset
from vlcat.errors import DataError


def _counts(items: list[Datum]) -> dict[int, int]:
    return dict(sorted(Counter(d.label for d in items).items()))


def test_split_json_oxford_pets(data_root, build):
    classes = ["abyssinian", "american_bulldog", "beagle"]
    card = build.split_json_tree(data_root, "oxford_pets", classes)
    s = load_dataset(card, data_root)
    assert s.name == "oxford_pets"
    assert s.sizes() == {"train": 15, "val": 6, "test": 9}
    assert _counts(s.train) == {0: 5, 1: 5, 2: 5}
    assert s.classnames == ["abyssinian", "american bulldog", "beagle"]
    assert {d.classname for d in s.train if d.label == 1} == {"american bulldog"}
    assert s.template == "a photo of a {}, a type of pet."
    assert s.templates[0] == s.template and len(s.templates) == len(set(s.templates)) > 1
    assert s.domain
    assert s.skipped == []
    assert s.root == str(data_root) and s.dataset_dir == str(data_root / "oxford_pets")
    for d in s.train + s.val + s.test:
        assert os.path.isabs(d.path) and os.path.isfile(d.path)
        assert d.path.startswith(str(data_root / "oxford_pets" / "images"))
    # split order is preserved (class-interleaved, as written)
    assert [d.label for d in s.train[:3]] == [0, 1, 2]


def test_split_json_paths_relative_to_folder_stanford_cars(data_root, build):
    card = build.split_json_tree(data_root, "stanford_cars", ["2012 Audi TTS Coupe", "2007 BMW X5 SUV"],
                                 rel_prefix="cars_train/")
    s = load_dataset(card, data_root)
    assert s.classnames == ["2012 Audi TTS Coupe", "2007 BMW X5 SUV"]
    assert all(d.path.startswith(str(data_root / "stanford_cars" / "cars_train")) for d in s.train)
    assert s.template == "a photo of a {}."


def test_split_json_classname_fixes_eurosat_and_caltech(data_root, build):
    card = build.split_json_tree(data_root, "eurosat", ["AnnualCrop", "SeaLake", "Forest"])
    s = load_dataset(card, data_root)
    assert s.classnames == ["Annual Crop Land", "Sea or Lake", "Forest"]
    assert {d.classname for d in s.test} == set(s.classnames)
    assert s.template == "a centered satellite photo of {}."
    card = build.split_json_tree(data_root, "caltech101", ["airplanes", "Faces", "accordion"])
    assert load_dataset(card, data_root).classnames == ["airplane", "face", "accordion"]


@pytest.mark.parametrize(
    "name,template",
    [("dtd", "{} texture."), ("ucf101", "a photo of a person doing {}."), ("food101", "a photo of {}, a type of food."),
     ("oxford_flowers", "a photo of a {}, a type of flower."), ("sun397", "a photo of a {}.")],
)
def test_split_json_other_cards(data_root, build, name, template):
    card = build.split_json_tree(data_root, name, ["Apply_Eye_Makeup", "banded"], counts=(2, 1, 1))
    s = load_dataset(card, data_root)
    assert s.classnames == ["Apply Eye Makeup", "banded"]
    assert s.template == template and s.sizes() == {"train": 4, "val": 2, "test": 2}


def test_fgvc_aircraft(data_root, build):
    ddir = data_root / "fgvc_aircraft"
    variants = ["707-320", "A300B4", "F-16A/B"]
    (ddir).mkdir()
    (ddir / "variants.txt").write_text("\n".join(variants) + "\n")
    img = 1000000
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        lines = []
        for _ in range(n):
            for v in reversed(variants):  # file order differs from label order
                img += 1
                build.image(ddir / "images" / f"{img}.jpg", img, fmt="JPEG")
                lines.append(f"{img} {v}")
        (ddir / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    card = build.card_copy(data_root.parent / "cards", "fgvc_aircraft", num_classes=3)
    s = load_dataset(card, data_root)
    assert s.classnames == variants
    assert s.sizes() == {"train": 9, "val": 6, "test": 6}
    assert s.train[0].label == 2 and s.train[0].classname == "F-16A/B"
    assert s.train[0].path == str(ddir / "images" / "1000001.jpg")
    assert s.template == "a photo of a {}, a type of aircraft."


def _imagenet_tree(data_root, build, train_n=3, val_n=2):
    ddir = data_root / "imagenet"
    build.imagenet_classnames(ddir / "classnames.txt", build.WNIDS, build.INAMES)
    k = 0
    for split, n in (("train", train_n), ("val", val_n)):
        for w in build.WNIDS:
            for j in range(n):
                k += 1
                build.image(ddir / "images" / split / w / f"{w}_{j}.JPEG", k, fmt="PNG")
    return ddir


def test_imagenet(data_root, build):
    ddir = _imagenet_tree(data_root, build)
    build.image(ddir / "images" / "train" / build.WNIDS[0] / ".hidden.png", 1)  # hidden files are ignored
    (ddir / "images" / "train" / build.WNIDS[0] / "notes.txt").write_text("x")  # non-images too
    card = build.card_copy(data_root.parent / "cards", "imagenet", num_classes=5)
    s = load_dataset(card, data_root)
    assert s.classnames == build.INAMES
    assert s.sizes() == {"train": 15, "val": 0, "test": 10}
    assert _counts(s.test) == {i: 2 for i in range(5)}
    assert s.train[0].path == str(ddir / "images" / "train" / build.WNIDS[0] / f"{build.WNIDS[0]}_0.JPEG")
    assert all(s.classnames[d.label] == d.classname for d in s.train + s.test)
    assert s.template == "a photo of a {}."


def test_imagenet_v2(data_root, build):
    ddir = data_root / "imagenetv2"
    build.imagenet_classnames(ddir / "classnames.txt", build.WNIDS, build.INAMES)
    for label in range(5):
        for j in range(label + 1):
            build.image(ddir / "imagenetv2-matched-frequency-format-val" / str(label) / f"{j}.jpeg", j, fmt="PNG")
    card = build.card_copy(data_root.parent / "cards", "imagenet_v2", num_classes=5)
    s = load_dataset(card, data_root)
    assert s.train == [] and s.val == []
    assert _counts(s.test) == {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}
    assert s.classnames == build.INAMES


def test_imagenet_sketch(data_root, build):
    ddir = data_root / "imagenet-sketch"
    build.imagenet_classnames(ddir / "classnames.txt", build.WNIDS, build.INAMES)
    for i, w in enumerate(build.WNIDS):
        build.image(ddir / "images" / w / "a.png", i)
    card = build.card_copy(data_root.parent / "cards", "imagenet_sketch", num_classes=5)
    s = load_dataset(card, data_root)
    assert s.classnames == build.INAMES and [d.label for d in s.test] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name,folder,sub", [("imagenet_a", "imagenet-adversarial", "imagenet-a"),
                                             ("imagenet_r", "imagenet-rendition", "imagenet-r")])
def test_imagenet_200_class_subsets(data_root, build, name, folder, sub):
    ddir = data_root / folder
    build.imagenet_classnames(ddir / "classnames.txt", build.WNIDS, build.INAMES)
    present = [build.WNIDS[4], build.WNIDS[1], build.WNIDS[3]]  # written out of order
    for i, w in enumerate(present):
        for j in range(2):
            build.image(ddir / sub / w / f"{j}.jpg", i * 10 + j, fmt="JPEG")
    (ddir / sub / "README.txt").write_text("not a class")
    card = build.card_copy(data_root.parent / "cards", name, num_classes=3)
    s = load_dataset(card, data_root)
    # kept in ImageNet order (goldfish, tiger shark, hammerhead shark) and relabelled 0..2
    assert s.classnames == ["goldfish", "tiger shark", "hammerhead shark"]
    assert _counts(s.test) == {0: 2, 1: 2, 2: 2}
    assert all(Path(d.path).parent.name == build.WNIDS[[1, 3, 4][d.label]] for d in s.test)


def test_image_folder_flat_via_spec(tmp_path, build):
    root = tmp_path / "mine"
    for c, n in (("cat", 10), ("dog", 7), ("bird_of_prey", 1)):
        for j in range(n):
            build.image(root / c / f"{j}.png", j)
    s = load_dataset(f"folder:{root}", None)
    assert s.name == "mine"
    assert s.classnames == ["bird of prey", "cat", "dog"]
    assert _counts(s.train) == {0: 1, 1: 5, 2: 4}  # round(n * 0.5), at least one
    assert _counts(s.val) == {1: 2, 2: 1}
    assert _counts(s.test) == {1: 3, 2: 2}
    assert s.template == "a photo of a {}."
    again = load_dataset(f"folder:{root}", None)
    assert again.train == s.train  # the split is seeded


def test_image_folder_split_dirs_and_relative_spec(data_root, build):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for c in ("b", "a"):
            for j in range(n):
                build.image(data_root / "mine" / split / c / f"{j}.png", j)
    s = load_dataset("folder:mine", data_root)
    assert s.classnames == ["a", "b"]
    assert s.sizes() == {"train": 6, "val": 2, "test": 4}
    # without test/, val/ becomes the test split (ImageNet convention)
    import shutil

    shutil.rmtree(data_root / "mine" / "test")
    s = load_dataset("folder:mine", data_root)
    assert s.sizes() == {"train": 6, "val": 0, "test": 2}


def test_csv_with_names_and_split(tmp_path, build):
    d = tmp_path / "csvdata"
    rows = ["path,label,split"]
    for i, (c, split) in enumerate([("zebra", "train"), ("ant", "train"), ("zebra", "test"), ("ant", "val"),
                                    ("ant", "test")]):
        build.image(d / "img" / f"{i}.png", i)
        rows.append(f"img/{i}.png,{c},{split}")
    (d / "list.csv").write_text("\n".join(rows) + "\n")
    s = load_dataset(f"csv:{d / 'list.csv'}", None)
    assert s.name == "list" and s.classnames == ["ant", "zebra"]
    assert [(Path(x.path).name, x.label) for x in s.train] == [("0.png", 1), ("1.png", 0)]
    assert s.sizes() == {"train": 2, "val": 1, "test": 2}


def test_csv_numeric_labels_with_classname_column_and_no_split(tmp_path, build):
    d = tmp_path / "c2"
    rows = ["path,label,classname"]
    for i in range(12):
        build.image(d / f"{i}.png", i)
        rows.append(f"{i}.png,{i % 2},{'sea_lion' if i % 2 else 'otter'}")
    (d / "data.csv").write_text("\n".join(rows) + "\n")
    s = load_dataset(f"csv:{d / 'data.csv'}", None)
    assert s.classnames == ["otter", "sea lion"]
    assert _counts(s.train) == {0: 3, 1: 3} and _counts(s.val) == {0: 1, 1: 1} and _counts(s.test) == {0: 2, 1: 2}


def test_custom_card_csv_with_card_classnames(tmp_path, data_root, build):
    d = data_root / "shop"
    rows = ["path,label,split"]
    for i in range(4):
        build.image(d / "pics" / f"{i}.png", i)
        rows.append(f"{i}.png,{i % 2},{'train' if i < 2 else 'test'}")
    (d / "items.csv").write_text("\n".join(rows) + "\n")
    card = tmp_path / "shop.yaml"
    card.write_text(
        "kind: custom\nreader: csv\nfolder: shop\nimage_dir: pics\nsplit_file: items.csv\n"
        "classnames: [mug, teapot]\ntemplate: 'a product photo of a {}.'\ndomain: kitchenware\n"
    )
    s = load_dataset(card, data_root)
    assert s.name == "shop" and s.classnames == ["mug", "teapot"]
    assert s.template == "a product photo of a {}." and s.templates == [s.template] and s.domain == "kitchenware"
    assert s.sizes() == {"train": 2, "val": 0, "test": 2}


def test_csv_bad_header(tmp_path, build):
    d = tmp_path / "c3"
    d.mkdir()
    (d / "x.csv").write_text("file,cls\na.png,1\n")
    with pytest.raises(DataError, match="header"):
        load_dataset(f"csv:{d / 'x.csv'}", None)
