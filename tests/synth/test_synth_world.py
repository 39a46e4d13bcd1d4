"""The world must be a pure function of its seed: cached datasets and the committed model depend on it."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from vlcat.synth.shapes import SHAPES
from vlcat.synth.tasks import DEFAULT_TASK, TASKS
from vlcat.synth.world import (
    APPEARANCES,
    COLOURS,
    INK,
    PRETRAIN_STYLE,
    describe,
    png_bytes,
    pretrain_pair,
    pretrain_scene,
    render,
    rng_for,
    sample_scene,
)


def test_pretrain_stream_is_deterministic() -> None:
    for i in range(6):
        img_a, cap_a = pretrain_pair(0, i)
        img_b, cap_b = pretrain_pair(0, i)
        assert png_bytes(img_a) == png_bytes(img_b)
        assert cap_a == cap_b


# sha256 over (PNG bytes, caption) of the first 300 pairs of seed 0: the stream tools/pretrain_toy_clip.py
# draws now (PRETRAIN_STREAM_VERSION). A change that moves it must bump that version, so that a record can say
# which stream its weights saw; the committed weights' record names theirs (see the test below).
PRETRAIN_STREAM_DIGEST = "2a75caf676d70b92c4fba33dcdf494dbc85a086dcbc75271b7368a7b727b5b9b"


def test_the_committed_weights_name_a_stream_version_that_exists() -> None:
    import json

    from vlcat.synth.toy_model import RECORD_PATH
    from vlcat.synth.world import PRETRAIN_STREAM_VERSION

    record = json.loads(RECORD_PATH.read_text())
    assert 1 <= record.get("pretrain_stream_version", 1) <= PRETRAIN_STREAM_VERSION


def test_pretrain_stream_is_the_one_the_toy_clip_was_trained_on() -> None:
    digest = hashlib.sha256()
    for i in range(300):
        img, caption = pretrain_pair(0, i)
        digest.update(png_bytes(img))
        digest.update(caption.encode())
    assert digest.hexdigest() == PRETRAIN_STREAM_DIGEST


def _plain(scene):
    return dataclasses.replace(scene, background="plain", bg1=(255, 255, 255), bg2=(255, 255, 255),
                               lighting="normal", blur=0.0, noise=0.0, clutter=())


def test_outline_style_draws_the_same_scene_as_a_coloured_outline() -> None:
    filled_style = dataclasses.replace(TASKS[DEFAULT_TASK].style, outline_width=0.0)
    filled = _plain(sample_scene(rng_for(0, 1, 0), filled_style, shape="square", colour="red"))
    outline = _plain(sample_scene(rng_for(0, 1, 0), TASKS[DEFAULT_TASK].style, shape="square", colour="red"))
    # Same random draws (the outline costs none), so only the drawing differs.
    assert dataclasses.replace(outline, outline_width=0.0) == filled and outline.outline_width > 0
    red = [((a[..., 0] > 150) & (a[..., 1] < 110) & (a[..., 2] < 110)).sum()
           for a in (np.asarray(render(s, 64)).astype(int) for s in (filled, outline))]
    assert red[1] > 20 and red[1] < red[0] / 2  # a visible outline, far fewer coloured pixels than a fill


_OUTLINE_WORDS = ("outline", "sketch", "line drawing", "contour drawing", "thin lines")
_CAST_WORDS = ("light", "cast")
_GRAIN_WORDS = ("grainy", "noisy")


def _stream(n: int = 3000):
    return [pretrain_scene(0, i) for i in range(n)]


def test_pretraining_shows_outlines_strong_casts_and_grain_rarely_and_names_them_mostly() -> None:
    """The tasks' appearances exist in pretraining (so their words mean something) but stay rare (so the
    tasks remain a domain shift), and captions name them most of the time, never when absent."""
    stream = _stream()
    kinds = {
        "outline": (lambda sc: sc.outline_width > 0, _OUTLINE_WORDS),
        "strong_cast": (lambda sc: sc.lighting in ("warm", "cool") and sc.light_amount > 1.1, _CAST_WORDS),
        "heavy_grain": (lambda sc: sc.noise > 9.0, _GRAIN_WORDS),
    }
    for name, (has, words) in kinds.items():
        with_it = [cap for sc, cap in stream if has(sc)]
        share = len(with_it) / len(stream)
        expected = APPEARANCES[name].p
        assert expected * 0.6 < share < expected * 1.5, (name, share)
        named = sum(any(w in cap for w in words) for cap in with_it) / len(with_it)
        if name == "outline":  # line drawings are dark ink on white paper, whatever the object's colour
            assert all(sc.background == "plain" and {o.rgb for o in sc.objects} == {INK}
                       for sc, _ in stream if has(sc))
        assert 0.55 < named < 0.95, (name, named)  # often, not always
        if name != "strong_cast":  # "light" also names ordinary lighting ("dimly lit", "in warm light" no)
            without = [cap for sc, cap in stream if not has(sc)]
            assert not any(any(w in cap for w in words) for cap in without), name


def test_outline_scenes_are_drawn_as_outlines() -> None:
    scene = next(sc for sc, _ in _stream(400) if sc.outline_width > 0)
    assert 0.016 <= scene.outline_width <= 0.04
    filled = render(dataclasses.replace(_plain(scene), outline_width=0.0), 64)
    outline = render(_plain(scene), 64)
    ink = [int((np.abs(np.asarray(im).astype(int) - 255).sum(-1) > 60).sum()) for im in (filled, outline)]
    assert 0 < ink[1] < ink[0]  # the same object, fewer coloured pixels


def test_different_seed_or_index_gives_different_samples() -> None:
    a = [png_bytes(pretrain_pair(0, i)[0]) for i in range(4)]
    b = [png_bytes(pretrain_pair(1, i)[0]) for i in range(4)]
    assert len(set(a)) == 4
    assert not set(a) & set(b)


def test_task_images_are_deterministic_and_splits_disjoint() -> None:
    task = TASKS[DEFAULT_TASK]
    same = png_bytes(task.image(5, "test", 0, seed=3)), png_bytes(task.image(5, "test", 0, seed=3))
    assert same[0] == same[1]
    others = {png_bytes(task.image(5, split, 0, seed=3)) for split in ("train", "val")}
    others.add(png_bytes(task.image(5, "test", 0, seed=4)))
    others.add(png_bytes(task.image(6, "test", 0, seed=3)))
    assert same[0] not in others and len(others) == 4


def test_default_task_has_enough_distinct_classes() -> None:
    task = TASKS[DEFAULT_TASK]
    assert len(task.classnames) >= 40
    assert len(set(task.classnames)) == len(task.classnames)
    assert task.classnames[0] == "red circle"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_draws_visible_pixels(shape: str) -> None:
    rng = rng_for(0, 0, 0)
    scene = sample_scene(rng, PRETRAIN_STYLE, shape=shape, colour="red")
    scene = type(scene)(**{**scene.__dict__, "background": "plain", "bg1": (255, 255, 255),
                           "bg2": (255, 255, 255), "lighting": "normal", "blur": 0.0, "noise": 0.0,
                           "clutter": ()})
    arr = np.asarray(render(scene, 64)).astype(int)
    red = (arr[..., 0] > 150) & (arr[..., 1] < 110) & (arr[..., 2] < 110)
    assert red.sum() > 20


def test_captions_name_colour_and_shape() -> None:
    for i in range(40):
        rng = rng_for(7, 0, i)
        scene = sample_scene(rng, PRETRAIN_STYLE)
        caption = describe(scene, rng)
        for o in scene.objects:
            assert o.colour in caption and o.shape.rstrip("s") in caption
            assert o.colour in COLOURS
