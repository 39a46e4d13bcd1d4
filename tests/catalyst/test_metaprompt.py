"""The meta-prompt and the reply schema."""

from __future__ import annotations

import jsonschema
import pytest

from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText, TaskInfo, build_messages, reply_schema, sample_classnames


def test_scored_prompts_are_listed_worst_to_best_with_the_task():
    task = TaskInfo("coloured shapes", 48, ["red circle", "blue star"], "end", 16)
    scored = [ScoredText("mid", Fitness(1.5, 50), "trajectory"), ScoredText("best", Fitness(0.5, 90), "history"),
              ScoredText("worst", Fitness(3.0, 10), "template")]
    system, user = build_messages(task, scored, 8)
    text = user["content"]
    assert system["role"] == "system" and user["role"] == "user"
    assert text.index('"worst"') < text.index('"mid"') < text.index('"best"')
    for part in ("48 classes of coloured shapes", "red circle, blue star, ...", "about 16 words",
                 "followed by the class name", "Write 8 new prompts", "loss 0.500, accuracy 90.0%"):
        assert part in text


def test_the_schema_accepts_good_replies_and_refuses_bad_ones():
    schema = reply_schema(3, max_words=4)
    jsonschema.validate({"prompts": ["a photo of a"]}, schema)
    jsonschema.validate({"prompts": ["A close-up photo, of", "x" * 24, "it's (very) dark."]}, schema)
    for bad in ({}, {"prompts": []}, {"prompts": ["x"] * 4}, {"prompts": [""]}, {"prompts": ["a b c d e"]},
                {"prompts": ["x" * 25]}, {"prompts": ["a  photo"]}, {"prompts": ["x"], "other": 1},
                {"prompts": ["1. a photo"]}, {"prompts": ['"a photo"']}, {"prompts": ["a\nphoto"]},
                {"prompts": ["a {} photo"]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    jsonschema.validate({"prompts": ["a b c d e f g h"]}, reply_schema(3))  # no word bound


def test_class_examples_are_spread_over_the_list():
    names = [f"c{i}" for i in range(10)]
    assert sample_classnames(names, 5) == ["c0", "c2", "c4", "c6", "c8"]
    assert sample_classnames(names, 20) == names
    assert sample_classnames(names, 0) == []


def test_held_out_scores_are_shown_when_there_is_a_validation_split():
    task = TaskInfo("coloured shapes", 48, ["red circle"], "end", 4)
    scored = [ScoredText("a", Fitness(1.0, 50, 60.0, 1.2), "trajectory"),
              ScoredText("b", Fitness(2.0, 40, 70.0, 1.0), "template")]
    text = build_messages(task, scored, 4)[1]["content"]
    assert text.index('"a"') < text.index('"b"')  # worst to best on validation accuracy, not training loss
    assert "70.0% correct on held-out images" in text and "loss 1.000" not in text


def test_variations_never_show_a_prompt_without_asking_for_a_different_one():
    task = TaskInfo("line drawings of shapes", 48, ["red circle", "blue star"], "end", 4)
    scored = [ScoredText("mid one", Fitness(1.5, 50, 60.0, 1.1), "trajectory"),
              ScoredText("best one", Fitness(0.5, 90, 80.0, 0.9), "history"),
              ScoredText("worst one", Fitness(3.0, 10, 20.0, 2.0), "template")]
    text = build_messages(task, scored, 3, style="variations")[1]["content"]
    assert "line drawings of shapes" in text and "exactly 4 words" in text and "followed by the class name" in text
    best = text.index('"best one"')
    assert "Do not repeat it" in text[best:best + 120]
    others = text.index("not to be repeated")
    assert others < text.index('"mid one"') and others < text.index('"worst one"')
    assert "Write 3 new and different prompts" in text
    schema = reply_schema(3, max_words=8, exact_words=4)
    jsonschema.validate({"prompts": ["a drawing of a"]}, schema)
    for bad in (["a drawing of"], ["a line drawing of a"]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"prompts": bad}, schema)
    with pytest.raises(ValueError):
        build_messages(task, scored, 3, style="other")


def test_variations_name_the_class_words_the_parser_rejects():
    scored = [ScoredText("best one", Fitness(0.5, 90, 80.0, 0.9), "history")]
    plain = TaskInfo("line drawings of shapes", 48, ["red circle"], "end", 4)
    assert "Do not use these words" not in build_messages(plain, scored, 3, style="variations")[1]["content"]
    def banned_line(words):
        text = build_messages(TaskInfo("line drawings of shapes", 48, ["red circle"], "end", 4, class_words=words),
                              scored, 3, style="variations")[1]["content"]
        return next(x for x in text.splitlines() if x.startswith("Do not use"))

    assert banned_line(["circle", "red"]) == "Do not use these words either, since they name classes: circle, red."
    # thousands of ImageNet words would crowd out the task: then it only says so
    assert banned_line([f"w{i:02d}" for i in range(60)]) == "Do not use any word of a class name either."


STYLES = ("scored_list", "variations")


def test_every_meta_prompt_style_is_covered_here():
    from vlcat.config import _CHOICES

    assert set(_CHOICES["catalyst.meta_prompt"]) == set(STYLES)


@pytest.mark.parametrize("style", STYLES)
def test_the_domain_line_is_in_every_style(style):
    domain = "thin coloured outlines of shapes on patterned backgrounds"
    task = TaskInfo(domain, 48, ["red circle"], "end", 4)
    messages = build_messages(task, [ScoredText("a photo of a", Fitness(1.0, 50.0), "template")], 4, style=style)
    assert domain in messages[1]["content"]


@pytest.mark.parametrize("style", STYLES)
def test_the_cards_domain_line_reaches_the_recorded_meta_prompt(style, tiny_data, tiny_model_file, tmp_path,
                                                                 closed_url):
    """Card -> DatasetSplits -> the stage's TaskInfo -> the messages a real stage records (the LLM is a
    closed port: the meta-prompt is built and recorded before the request fails)."""
    import json
    from pathlib import Path

    from vlcat.catalyst import build_catalyst  # noqa: F401 - registers the catalyst with the run loop
    from vlcat.config import load_config
    from vlcat.testing import tiny_overrides
    from vlcat.train.run import run_training

    root, card = tiny_data
    domain = "noisy squares of flat colour with one bright patch"
    mine = tmp_path / "tiny_domain.yaml"
    mine.write_text(Path(card).read_text().replace("domain: 'colours'", f"domain: '{domain}'"))
    run = tmp_path / "run"
    run_training(load_config(overrides=tiny_overrides(root, mine, tiny_model_file, tmp_path / "cache", run, **{
        "catalyst.enabled": True, "catalyst.epochs": "[1]", "catalyst.snapshots_per_stage": 2,
        "catalyst.meta_prompt": style, "optim.max_epoch": 1, "llm.base_url": closed_url, "llm.model": "m",
        "llm.max_retries": 0, "llm.timeout": 5})))
    stage = json.loads((run / "llm_stages" / "stage_1.json").read_text())
    assert stage["meta_prompt"]["style"] == style
    assert domain in stage["meta_prompt"]["messages"][1]["content"]
