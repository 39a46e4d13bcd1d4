"""The world must be a pure function of its seed: cached datasets and the committed model depend on it."""

from __future__ import annotations

import numpy as np
import pytest

from vlcat.synth.shapes import SHAPES
from vlcat.synth.tasks import DEFAULT_TASK, TASKS
from vlcat.synth.world import (
    COLOURS,
    PRETRAIN_STYLE,
    describe,
    png_bytes,
    pretrain_pair,
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
