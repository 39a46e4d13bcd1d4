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
