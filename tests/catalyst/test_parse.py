"""Parsing LLM replies: tolerant of weak models, strict about what becomes a candidate."""

from __future__ import annotations

import json

import pytest

from vlcat.catalyst.parse import CandidateParser, clean_text, salvage


@pytest.mark.parametrize("raw, clean", [
    ("1. a photo of a", "a photo of a"),
    ("2) a photo of a", "a photo of a"),
    ("(3) a photo of a", "a photo of a"),
    ("- a photo of a", "a photo of a"),
    ("* a photo of a", "a photo of a"),
    ("• a photo of a", "a photo of a"),
    ("Prompt 4: a photo of a", "a photo of a"),
    ('"a photo of a"', "a photo of a"),
    ("“a photo of a”", "a photo of a"),
    ("5. 'a photo of a'", "a photo of a"),
    ("a photo of a {}.", "a photo of a"),
    ("a photo of a [CLASS].", "a photo of a"),
    ("a photo of a <class>", "a photo of a"),
    ("a photo of a CLASS", "a photo of a"),
    ("a photo of a {classname}", "a photo of a"),
    ("a photo of a <class name>.", "a photo of a"),
    ("<prompt> <class name>.", ""),
    ("  a   photo\n of a ,", "a photo of a"),
    ("a classic photo", "a classic photo"),  # lower-case words that contain 'class' stay
    ("1980s style photo of a", "1980s style photo of a"),  # a number that is no list marker stays
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean


def _parser(**kw):
    kw.setdefault("max_chars", 40)
    kw.setdefault("max_tokens", 8)
    kw.setdefault("count_tokens", lambda t: len(t.split()))
    kw.setdefault("classnames", ["red", "dark_blue"])
    return CandidateParser(**kw)


def test_parse_accepts_cleans_and_rejects_with_reasons():
    items = ["1. a photo of a", '"a picture of a"', "", "{}", "a " * 30, "bad\x07char", "a\ufffdb",
             "a photo of a", "A  Photo of a", "a red thing", "a dark blue thing", "123 456", "a shot of the",
             "one two three four five six seven eight nine"]
    res = _parser(max_chars=50).parse([(0, {"prompts": items}, json.dumps({"prompts": items}))],
                                      seen=["a shot of the"])
    assert [c.text for c in res.accepted] == ["a photo of a", "a picture of a"]
    reasons = [r.reason for r in res.rejected]
    assert reasons.count("empty after cleaning") == 2
    assert any(r.startswith("too long (") and "characters" in r for r in reasons)
    assert any(r.startswith("too long (") and "tokens" in r for r in reasons)
    assert reasons.count("non-printable characters") == 2
    assert reasons.count("duplicate within the reply") == 2
    assert reasons.count("contains a class name") == 2
    assert "no words" in reasons
    assert "duplicate of a prompt already scored" in reasons
    assert len(res.accepted) + len(res.rejected) == len(items)


def test_duplicates_are_rejected_across_choices():
    res = _parser().parse([(0, {"prompts": ["a photo of a"]}, ""), (1, {"prompts": ["a photo of a", "x y"]}, "")])
    assert [(c.text, c.choice) for c in res.accepted] == [("a photo of a", 0), ("x y", 1)]
    assert res.rejected[0].reason == "duplicate within the reply" and res.rejected[0].choice == 1


def test_broken_json_is_salvaged():
    cut = '{"prompts": ["a photo of a", "an image of the", "a pic'
    items, how = salvage(cut)
    assert how == "salvaged-strings" and items == ["a photo of a", "an image of the"]
    res = _parser().parse([(0, None, cut)])
    assert [c.text for c in res.accepted] == ["a photo of a", "an image of the"]
    assert all(c.how == "salvaged-strings" for c in res.accepted)


def test_valid_json_of_the_wrong_shape_is_salvaged():
    items, how = salvage('{"prompts": ["a photo of a", "an image of"], "extra": 1}')
    assert how == "salvaged-json" and items == ["a photo of a", "an image of"]
    assert salvage('["x y", "z w"]') == (["x y", "z w"], "salvaged-json")
    assert salvage('{"answers": [{"prompt": "x y"}]}') == (["x y"], "salvaged-json")


def test_plain_lines_are_salvaged():
    raw = "Here are prompts:\n1. a photo of a\n2. an image of the\n"
    items, how = salvage(raw)
    assert how == "salvaged-lines"
    res = _parser(max_tokens=4).parse([(0, None, raw)])
    assert [c.text for c in res.accepted] == ["a photo of a", "an image of the"]
    assert not res.rejected  # the introduction line is not taken for a prompt
    assert all(c.how == "salvaged-lines" for c in res.accepted)


def test_a_reply_with_nothing_in_it_is_reported():
    res = _parser().parse([(0, None, "")])
    assert not res.accepted and res.rejected[0].reason == "no prompts found in the reply"


def test_a_single_word_of_a_class_name_is_a_leak_but_function_and_template_words_are_not():
    """"a photo of the star" before "red circle" pulls every class towards stars."""
    parser = _parser(max_chars=60, classnames=["red circle", "blue star", "photo booth", "man of war"],
                     allowed_words=["a photo of a {}."])
    items = ["a photo of the star", "bright Red outline", "a photo of a", "a drawing of war", "sketch of an outline",
             "a star-shaped thing", "circles and lines"]
    res = parser.parse([(0, {"prompts": items}, "")])
    assert [c.text for c in res.accepted] == ["a photo of a", "sketch of an outline"]
    assert [r.reason for r in res.rejected] == ["contains a word of a class name ('star')",
                                                "contains a word of a class name ('red')",
                                                "contains a word of a class name ('war')",
                                                "contains a word of a class name ('star')",
                                                "contains a word of a class name ('circles')"]
