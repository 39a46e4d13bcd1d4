"""Classification tasks over the world: the offline benchmark suite.

A task fixes a list of classes and the style its images are drawn in. A class is whatever the world's
captions can name: a colour and a shape (``colour_shape``), a shape alone, a background pattern, a
lighting, a colour alone. What a class does not fix is drawn at random from the task's pools (its shapes
and colours) and from its style, so a background-pattern class shows any shape in any colour.

Each task is a different few-shot problem for the toy CLIP, calibrated by measurement
(``tools/probe_toy_world.py --task NAME``): the hand-written template must be clearly above chance
(the model knows the words) and a 16-shot linear probe on the image features clearly above the template
(there is something for prompt tuning to learn). The numbers are in each task's dataset card.

The default task, ``colour_shape``, uses 8 colours x 6 shapes = 48 classes drawn in ``TASK_STYLE``: the
shapes are line drawings (coloured outlines, no fill), mostly on patterned backgrounds, off centre, some
under dim or tinted light, some with grey clutter. Pretraining only ever saw filled shapes, so the task is
a domain shift like ImageNet-Sketch is for CLIP: the image features still carry colour and shape, but
"a photo of a {}." no longer points where those images lie.

``SHIFTS`` are the domain-generalisation targets of ``colour_shape``: the same 48 classes in other styles,
read like ImageNet's variants (train on the source, evaluate unchanged on each target).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vlcat.errors import DataError
from vlcat.synth.world import (
    ALL_COLOURS,
    ALL_SHAPES,
    STREAM_TEST,
    STREAM_TRAIN,
    STREAM_VAL,
    Style,
    render,
    rng_for,
    sample_scene,
)

TASK_STYLE = Style(
    backgrounds={"plain": 0.2, "gradient": 0.1, "striped": 0.2, "checkered": 0.2, "dotted": 0.15,
                 "speckled": 0.15},
    tones={"light": 0.45, "mid": 0.3, "dark": 0.25},
    sizes={"medium": 0.5, "large": 0.5},
    lighting={"normal": 0.65, "dim": 0.15, "warm": 0.1, "cool": 0.1},
    p_blur=0.15,
    noise=(1.0, 8.0),
    p_clutter=0.4,
    clutter_count=(1, 3),
    p_second_object=0.0,
    centre_bias=0.4,
    outline_width=0.024,
)
"""Calibrated on the committed toy CLIP (measured, not assumed: ``toy_clip_record.json``): filled shapes in
this style are ~99 % zero-shot, so the nuisances alone cost nothing; 1.5 px outlines (0.024 of 64 px) bring
the hand-written prompt down to ~70 % while a 16-shot linear probe still reaches ~84 % on base classes.
Thicker outlines (2.5 px) leave zero-shot at ~90 % and little to learn; 1 px loses colour for every method.
Rerun with ``python tools/probe_toy_world.py '{}' '{outline_width: 0.0}' '{outline_width: 0.039}'``."""

SPLIT_STREAMS = {"train": STREAM_TRAIN, "val": STREAM_VAL, "test": STREAM_TEST}

TASK_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
TASK_SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross")


@dataclass(frozen=True)
class TaskClass:
    """One label: its class name and what it fixes in the scene (the rest is drawn at random)."""

    name: str
    shape: str | None = None
    colour: str | None = None
    style: Mapping[str, Any] = field(default_factory=dict)
    """``Style`` fields this class fixes, e.g. ``{"backgrounds": {"striped": 1.0}}``."""


@dataclass(frozen=True)
class Task:
    name: str
    card: str
    """Dataset card (and folder under the data root) the task is written as."""
    classes: tuple[TaskClass, ...]
    style: Style
    template: str = "a photo of a {}."
    """The card's hand-written template (the probe's zero-shot prompt); a test keeps the two equal."""
    shapes: tuple[str, ...] = ALL_SHAPES
    """Pool a class that fixes no shape draws from."""
    colours: tuple[str, ...] = ALL_COLOURS
    shift_of: str | None = None
    """For a domain shift: the task whose classes it shares (the DG source)."""
    test_per_class: int = 20
    """Test images per class in the written dataset: more for tasks with few classes, so that every test
    split has several hundred images and a seed's accuracy is not a coin toss."""

    @property
    def classnames(self) -> list[str]:
        return [c.name for c in self.classes]

    def image(self, label: int, split: str, index: int, *, seed: int = 0, size: int = 64) -> Image.Image:
        """The ``index``-th image of class ``label`` in ``split``; splits never share an image."""
        cls = self.classes[label]
        style = dataclasses.replace(self.style, **cls.style) if cls.style else self.style
        # Label in the stream index keeps classes disjoint without caring about per-class counts.
        rng = rng_for(seed, SPLIT_STREAMS[split] * 1000 + label, index)
        scene = sample_scene(rng, style, shape=cls.shape, colour=cls.colour, shapes=self.shapes,
                             colours=self.colours)
        return render(scene, size)


def colour_shape_classes(colours: tuple[str, ...] = TASK_COLOURS,
                         shapes: tuple[str, ...] = TASK_SHAPES) -> tuple[TaskClass, ...]:
    """(colour, shape) per label, colour-major so labels are stable when shapes are added."""
    return tuple(TaskClass(f"{c} {s}", shape=s, colour=c) for c in colours for s in shapes)


def _fixing(field_name: str, values: dict[str, str]) -> tuple[TaskClass, ...]:
    """Classes that each fix one option of a ``Style`` field; ``values`` maps option -> class name."""
    return tuple(TaskClass(name, style={field_name: {option: 1.0}}) for option, name in values.items())


COLOUR_SHAPE = Task("colour_shape", "synth_shapes", colour_shape_classes(), TASK_STYLE)

# ----- the other tasks ----------------------------------------------------------------------------------
# Each style was chosen by measurement (tools/probe_toy_world.py --task NAME, numbers in the card): the
# plain version of every task is too easy for the toy CLIP (zero-shot 93-100 %, probe no better), so each
# adds the nuisance that separates words from features for that kind of class.

CLUTTER_STYLE = dataclasses.replace(
    TASK_STYLE, sizes={"small": 1.0}, p_clutter=1.0, clutter_count=(5, 9), centre_bias=0.0,
    lighting={"normal": 1.0})
"""Small outlined shapes anywhere in the image, always among many grey strokes, some drawn over them.
Filled, the shapes are 93 % zero-shot even among 8-14 strokes, with nothing for a probe to add."""

BACKGROUND_STYLE = dataclasses.replace(
    TASK_STYLE, outline_width=0.0, p_clutter=0.0, lighting={"normal": 0.7, "dim": 0.1, "warm": 0.1, "cool": 0.1},
    sizes={"small": 0.5, "medium": 0.5}, p_blur=0.5, noise=(10.0, 20.0))
"""Filled shapes of any colour on a patterned background, the pattern being the class, half of the images
blurred and all grainy: sharp patterns are ~99 % zero-shot."""

CONDITION_STYLE = dataclasses.replace(
    TASK_STYLE, outline_width=0.0, p_clutter=0.1, sizes={"medium": 0.5, "large": 0.5}, p_blur=0.0,
    noise=(0.0, 4.0))
"""Filled shapes of any colour; how the photo was taken (light, focus, grain) is the class."""

_SHARP = {"p_blur": 0.0, "noise": (0.0, 4.0)}
CONDITION_CLASSES = (
    TaskClass("dark", style={"lighting": {"dim": 1.0}, **_SHARP}),
    TaskClass("overexposed", style={"lighting": {"bright": 1.0}, **_SHARP}),
    TaskClass("warm", style={"lighting": {"warm": 1.0}, **_SHARP}),
    TaskClass("cool", style={"lighting": {"cool": 1.0}, **_SHARP}),
    TaskClass("blurry", style={"lighting": {"normal": 1.0}, "p_blur": 1.0, "noise": (0.0, 4.0)}),
    TaskClass("noisy", style={"lighting": {"normal": 1.0}, "p_blur": 0.0, "noise": (14.0, 22.0)}),
)
"""Six ways a photo can look (caption adjectives of the world); each class fixes light, blur and grain."""

TINT_STYLE = dataclasses.replace(
    TASK_STYLE, outline_width=0.0, lighting={"warm": 1.0}, light_amount=(1.5, 2.2),
    sizes={"small": 0.5, "medium": 0.5}, colour_jitter=20.0)
"""Filled shapes of one of 12 colours under a strong warm cast (up to 2.2x pretraining's strongest), a
colour-constancy problem. Pretraining's own tint range leaves colours ~97 % zero-shot and nothing to learn."""

TASKS: dict[str, Task] = {
    "colour_shape": COLOUR_SHAPE,
    "shape_clutter": Task(
        "shape_clutter", "synth_shape_clutter",
        tuple(TaskClass(s, shape=s) for s in ALL_SHAPES), CLUTTER_STYLE,
        template="a photo of a {}.", colours=TASK_COLOURS, test_per_class=60),
    "background": Task(
        "background", "synth_backgrounds",
        _fixing("backgrounds", {"gradient": "gradient", "striped": "striped", "checkered": "checkered",
                                "dotted": "dotted", "speckled": "speckled"}),
        BACKGROUND_STYLE, template="a photo of a shape on a {} background.", colours=TASK_COLOURS,
        test_per_class=100),
    "photo_condition": Task(
        "photo_condition", "synth_photo_condition", CONDITION_CLASSES, CONDITION_STYLE,
        template="a {} photo of a shape.", colours=TASK_COLOURS, test_per_class=100),
    "colour_tint": Task(
        "colour_tint", "synth_colour_tint",
        tuple(TaskClass(c, colour=c) for c in ALL_COLOURS), TINT_STYLE,
        template="a photo of a {} shape.", shapes=TASK_SHAPES, test_per_class=60),
}
DEFAULT_TASK = "colour_shape"

SHIFTS: dict[str, Task] = {}
"""Domain shifts of ``colour_shape`` (filled below from ``_SHIFT_STYLES``)."""

_SHIFT_STYLES: dict[str, tuple[str, dict[str, Any]]] = {
    "colour_shape_filled": ("synth_shapes_filled", {"outline_width": 0.0}),
    "colour_shape_dim": ("synth_shapes_dim", {"lighting": {"dim": 0.5, "warm": 0.25, "cool": 0.25}}),
    "colour_shape_noisy": ("synth_shapes_noisy", {"p_blur": 0.6, "noise": (8.0, 16.0)}),
    "colour_shape_clutter": ("synth_shapes_clutter", {"p_clutter": 1.0, "clutter_count": (3, 6)}),
}


def shift(name: str, card: str, source: str, **style: Any) -> Task:
    """``source`` with some style fields replaced: a domain shift with exactly the source's classes."""
    base = get_task(source)
    return dataclasses.replace(base, name=name, card=card, style=restyle(base.style, **style), shift_of=source)


def restyle(style: Style, **fields: Any) -> Style:
    """``style`` with the named fields replaced; a field ``Style`` lacks is a one-line error."""
    known = {f.name for f in dataclasses.fields(style)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise DataError(f"unknown Style field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return dataclasses.replace(style, **fields)


def get_task(name: str) -> Task:
    """A task or shift by name; an unknown name is a one-line error listing the known ones."""
    if name in TASKS:
        return TASKS[name]
    if name in SHIFTS:
        return SHIFTS[name]
    raise DataError(f"unknown synth task {name!r}; known: {', '.join([*TASKS, *SHIFTS])}")


def check_shift(task: Task) -> None:
    """A shift must keep its source's classes (names and order), or DG accuracies compare nothing."""
    if task.shift_of is None:
        return
    source = get_task(task.shift_of)
    if task.classnames != source.classnames:
        diff = sorted(set(task.classnames) ^ set(source.classnames))[:3] or ["(same names, other order)"]
        raise DataError(f"shift {task.name!r} has other classes than its source {source.name!r} "
                        f"(e.g. {', '.join(diff)}); a domain shift must keep the source's classes")


for _name, (_card, _fields) in _SHIFT_STYLES.items():
    SHIFTS[_name] = shift(_name, _card, DEFAULT_TASK, **_fields)

TASK_BY_CARD: dict[str, Task] = {t.card: t for t in [*TASKS.values(), *SHIFTS.values()]}
"""The task behind each generated dataset card, so a sweep can write exactly the datasets it names."""
