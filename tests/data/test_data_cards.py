"""The shipped cards and the card schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from vlcat.data import datasets_dir, list_cards, load_dataset, resolve_card
from vlcat.data.cards import card_from_dict
from vlcat.errors import DataError

BENCHMARKS = ["imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
              "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101", "imagenet_v2", "imagenet_sketch",
              "imagenet_a", "imagenet_r"]
COOP_TEMPLATES = {
    "oxford_pets": "a photo of a {}, a type of pet.",
    "oxford_flowers": "a photo of a {}, a type of flower.",
    "fgvc_aircraft": "a photo of a {}, a type of aircraft.",
    "dtd": "{} texture.",
    "eurosat": "a centered satellite photo of {}.",
    "stanford_cars": "a photo of a {}.",
    "food101": "a photo of {}, a type of food.",
    "sun397": "a photo of a {}.",
    "caltech101": "a photo of a {}.",
    "ucf101": "a photo of a person doing {}.",
    "imagenet": "a photo of a {}.",
    "imagenet_sketch": "a photo of a {}.",
    "imagenet_v2": "a photo of a {}.",
    "imagenet_a": "a photo of a {}.",
    "imagenet_r": "a photo of a {}.",
}
# The authors' CUSTOM_TEMPLATES (KgCoOp/trainers/kgcoop.py, ProGrad.public/trainers/prograd.py) where they
# differ from CoOp's; elsewhere they are CoOp's.
KGCOOP_OWN = {"dtd": "a photo of a {}, a type of texture."}
PROGRAD_OWN = {"oxford_pets": "a type of pet, a photo of a {}.", "oxford_flowers": "a type of flower, a photo of a {}.",
               "fgvc_aircraft": "a type of aircraft, a photo of a {}.", "dtd": "a texture of {}.",
               "food101": "a type of food, a photo of {}."}
CLASS_COUNTS = {"imagenet": 1000, "caltech101": 100, "oxford_pets": 37, "stanford_cars": 196, "oxford_flowers": 102,
                "food101": 101, "fgvc_aircraft": 100, "sun397": 397, "dtd": 47, "eurosat": 10, "ucf101": 101,
                "imagenet_v2": 1000, "imagenet_sketch": 1000, "imagenet_a": 200, "imagenet_r": 200}


def test_the_cards_hold_each_methods_published_prompt():
    """KgCoOp and ProGrad read their authors' per-dataset prompt from the card (``method_templates``)."""
    from vlcat.learners.base import TaskSpec
    from vlcat.learners.kgcoop import paper_template

    for name in BENCHMARKS:
        card = resolve_card(name)
        task = TaskSpec(["x"], card.template, card.all_templates(), card.name, dict(card.method_templates))
        assert paper_template("kgcoop", task, "paper") == KGCOOP_OWN.get(name, COOP_TEMPLATES[name]), name
        assert paper_template("prograd", task, "paper") == PROGRAD_OWN.get(name, COOP_TEMPLATES[name]), name
        assert paper_template("prograd", task, "card") == COOP_TEMPLATES[name]


def test_datasets_dir_is_the_checkout():
    assert datasets_dir() == Path(__file__).resolve().parents[2] / "datasets"


def test_every_benchmark_card_loads_with_coop_template():
    assert set(BENCHMARKS) <= set(list_cards())
    headings = set(re.findall(r"^## (.+)$", (datasets_dir() / "DATASETS.md").read_text(), flags=re.M))
    for name in BENCHMARKS:
        card = resolve_card(name)
        assert card.name == name and card.kind == "benchmark"
        assert card.template == COOP_TEMPLATES[name]
        assert card.all_templates()[0] == card.template
        assert card.num_classes == CLASS_COUNTS[name]
        assert card.domain and card.prepare in headings, name


def test_all_shipped_cards_validate():
    for name in list_cards():
        resolve_card(name)


def test_env_override(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("kind: custom\nreader: image_folder\nfolder: x\n")
    monkeypatch.setenv("VLCAT_DATASETS_DIR", str(tmp_path))
    assert list_cards() == ["mine"]
    assert resolve_card("mine").template == "a photo of a {}."


BASE = {"reader": "split_json", "folder": "x", "split_file": "s.json", "template": "a {}.", "domain": "d",
        "prepare": "X"}


@pytest.mark.parametrize(
    "change,pattern",
    [
        ({"colour": "red"}, "unknown key.*colour"),
        ({"classes_file": "c.txt"}, "unknown key.*classes_file"),  # belongs to another reader
        ({"reader": "magic"}, "'reader' must be one of"),
        ({"template": "a photo."}, "one '\\{\\}'"),
        ({"templates": ["a {} {}"]}, "one '\\{\\}'"),
        ({"domain_prompts": ["a drawing."]}, "'domain_prompts' must be a string with one '\\{\\}'"),
        ({"domain_prompts": []}, "'domain_prompts' must be a non-empty list"),
        ({"domain_prompts": "a sketch of a {}."}, "'domain_prompts' must be a non-empty list"),
        ({"kind": "other"}, "'kind' must be"),
        ({"folder": "/abs/path"}, "absolute folders need kind: custom"),
        ({"num_classes": 0}, "num_classes"),
        ({"paths_relative_to": "root"}, "paths_relative_to"),
        ({"classname_fixes": ["a"]}, "classname_fixes"),
        ({"name": "bad name"}, "'name'"),
    ],
)
def test_card_validation(change, pattern):
    data = {**BASE, **change}
    with pytest.raises(DataError, match=pattern) as e:
        card_from_dict(data, source="t.yaml", default_name="t")
    assert "\n" not in str(e.value) and "t.yaml" in str(e.value)


def test_offline_task_cards_carry_hand_written_domain_prompts():
    """Each offline suite task's card has 3-5 domain prompts (the oracle proposer's texts) that reach
    ``DatasetSplits`` through the loader; other cards need none."""
    from vlcat.synth.tasks import TASKS

    cards = sorted(t.card for t in TASKS.values())
    assert len(cards) == 5
    for name in cards:
        card = resolve_card(name)
        assert 3 <= len(card.domain_prompts) <= 5, name
        assert all(p.count("{}") == 1 for p in card.domain_prompts)
        comment = (datasets_dir() / f"{name}.yaml").read_text().split("\ndomain_prompts:")[0]
        assert "fixed before any" in comment  # written before measuring, and the card says so
    assert resolve_card("dtd").domain_prompts == []
    ok = card_from_dict({**BASE, "domain_prompts": ["a sketch of a {}."]}, source="t.yaml", default_name="t")
    assert ok.domain_prompts == ["a sketch of a {}."]


def test_missing_required_keys():
    data = {k: v for k, v in BASE.items() if k not in ("template", "split_file")}
    with pytest.raises(DataError, match="missing required key.*split_file.*template"):
        card_from_dict(data, source="t.yaml", default_name="t")
    custom = card_from_dict({"reader": "image_folder", "kind": "custom", "folder": "/a"}, source="c", default_name="c")
    assert custom.template == "a photo of a {}." and custom.domain


def test_unknown_card_name_lists_known_ones():
    with pytest.raises(DataError, match=r"unknown dataset 'oxford_pet'; known: .*oxford_pets") as e:
        load_dataset("oxford_pet", "/tmp")
    assert "imagenet_r" in str(e.value)


def test_card_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        resolve_card(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("reader: [unclosed\n")
    with pytest.raises(DataError, match="not valid YAML") as e:
        resolve_card(bad)
    assert "\n" not in str(e.value)
    listy = tmp_path / "list.yaml"
    listy.write_text(yaml.safe_dump(["a"]))
    with pytest.raises(DataError, match="mapping"):
        resolve_card(listy)
    with pytest.raises(DataError, match="needs a path"):
        resolve_card("folder:")
