"""The registry test: every open_clip model family is exact with vlcat's prompt learners, or refused in one line.

Every name in ``open_clip.list_models()`` must belong to a family of ``vlcat.zoo.FAMILIES``. Each family's
smallest registered config is built through ``load_clip`` with random weights (no download); configs over
``SIZE_CUTOFF_M`` (210 M parameters, estimated from the config) keep their text tower's kind, tokenizer,
pooling and masks but are cut to two text layers of width <= 256 and a tiny image tower (``-shrunk`` in the test id).
Families whose vocabulary is only on the Hub (SigLIP's T5/Gemma/mc4 sentencepiece models, mT5, XLM-V,
BERT for CLIPA) use a stand-in tokenizer with the same special-token layout (``-standin_tokenizer`` in the
test id; see ``vlcat/standin_tokenizers.py``). The family checks take ~2-3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import time

import open_clip
import pytest

from vlcat.clip import load_clip
from vlcat.errors import ModelError
from vlcat.zoo import FAMILIES, SIZE_CUTOFF_M, TOL, check_family, estimated_params_m, family_of, representatives

REPS = representatives()


def _test_id(key: str) -> str:
    name = REPS[key]
    tags = ["standin_tokenizer"] if FAMILIES[key].standin else []
    tags += ["shrunk"] if estimated_params_m(name) > SIZE_CUTOFF_M else []
    return "-".join([key, name, *tags])


def test_every_registered_model_belongs_to_a_family():
    names = open_clip.list_models()
    assert {family_of(n) for n in names} == set(FAMILIES)
    assert set(REPS) == set(FAMILIES)


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(REPS), ids=_test_id)
def test_family_is_exact_or_refused_in_one_line(key):
    res = check_family(key, REPS[key])
    family = FAMILIES[key]
    if family.outcome == "refused":
        assert res.outcome == "refused" and "\n" not in res.detail, res
        assert "supported:" in res.detail, res.detail  # it says what to use instead
        return
    assert res.outcome == "exact", res
    assert res.max_diff <= TOL, f"class features differ from encode_text by {res.max_diff:.2e}"
    assert res.distinct > 1e-4, "different class names gave the same features"
    assert res.grad_norm > 0, "no gradient reached the context"


def test_hugging_face_towers_are_refused_before_anything_is_built():
    for name in [n for n in open_clip.list_models() if family_of(n) == "hf"]:
        start = time.perf_counter()
        with pytest.raises(ModelError) as err:
            load_clip(name)
        assert time.perf_counter() - start < 2.0, name
        assert "Hugging Face text tower" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("model, text", [
    ("roberta-ViT-B-32", "Hugging Face text tower"),
    ("ViT-B-16-SigLIP", "pip install transformers"),  # where transformers is installed: skipped
])
def test_the_cli_refuses_in_one_line_with_exit_2(tiny_data, tiny_model_file, tmp_path, capsys, model, text):
    import importlib.util

    from vlcat.cli import train_main
    from vlcat.testing import tiny_overrides

    if "transformers" in text and importlib.util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed here; test_layout blocks its import to check the message")
    root, card = tiny_data
    over = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run",
                          **{"model.name": model, "model.config": "null"})
    assert train_main(over) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and text in err, err


def test_the_readme_table_is_the_generated_one():
    """README.md's family table is written by tools/zoo_table.py; every family is there with its outcome."""
    from pathlib import Path

    from vlcat.zoo import TABLE_END, TABLE_START

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.strip().splitlines()[2:]}
    for fam in FAMILIES.values():
        verdict = rows[fam.title].split(" | ")[2]
        assert verdict.startswith("exact" if fam.outcome == "exact" else "refused"), rows[fam.title]
