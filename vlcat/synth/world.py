"""The embedded world: scenes of coloured shapes, drawn and described.

A scene is sampled from a ``Style`` (the probabilities of backgrounds, sizes, lighting, clutter...), drawn
to pixels by ``render`` and described in words by ``describe``. Two styles matter: ``PRETRAIN_STYLE``, the
world the toy CLIP learns from (mostly clean, centred, plainly lit shapes, with every nuisance mentioned in
the caption when it appears), and ``TASK_STYLE`` (see ``tasks.py``), where those nuisances are common and,
above all, shapes are drawn as thin outlines. A well-trained toy CLIP shrugs off the nuisances (~99 %
zero-shot on filled task-style shapes) but not the outlines: that gap, which the image features can still
close with a few shots, is what prompt tuning and the LLM catalyst work on.

Since stream version 2 the pretraining stream also shows, rarely, what the tasks show often: line drawings
(dark ink on white paper, where the tasks draw coloured outlines on patterns), strong colour casts and heavy
grain (``APPEARANCES``), and its captions name them most of the time in the words people use ("a line
drawing of...", "...in warm light", "a grainy photo..."), as web alt-text does. So, as with real CLIP,
wording that describes how the images look can move zero-shot accuracy: the lever a practitioner (or an LLM)
can pull and a random word generator cannot. The committed weights predate it (their record says which
stream they saw); README "The offline world" gives what continued pretraining on it measured.

Everything is a pure function of a ``numpy.random.Generator`` seeded per sample from (seed, stream, index),
so a sample never depends on what was drawn before it, and the same seed gives the same PNG bytes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vlcat.synth.shapes import MAX_ROTATION_DEG, RING_HOLE, SHAPES, circle, plural

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 30),
    "green": (40, 160, 60),
    "blue": (35, 75, 215),
    "purple": (135, 55, 185),
    "pink": (245, 125, 190),
    "brown": (125, 75, 35),
    "cyan": (40, 200, 215),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "gray": (128, 128, 128),
}
"""Every colour the world knows; tasks use a subset, pretraining uses all (more words, more contrasts)."""

ALL_SHAPES: tuple[str, ...] = tuple(SHAPES)
ALL_COLOURS: tuple[str, ...] = tuple(COLOURS)

SIZE_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.11, 0.15),
    "medium": (0.16, 0.23),
    "large": (0.24, 0.32),
}
"""Object radius as a fraction of the image side."""

LIGHTINGS = ("normal", "dim", "bright", "warm", "cool")
BACKGROUNDS = ("plain", "gradient", "striped", "checkered", "dotted", "speckled")
TONES = ("light", "mid", "dark")

# Streams keep the sample sets of different uses disjoint even under the same seed.
STREAM_PRETRAIN = 0
STREAM_TRAIN = 1
STREAM_VAL = 2
STREAM_TEST = 3

GENERATOR_VERSION = 2
"""Bumped whenever a change to the drawing code changes pixels, so cached datasets are rebuilt."""

PRETRAIN_STREAM_VERSION = 2
"""Bumped whenever the pretraining stream (its scenes or captions) changes; the toy CLIP's record names the
version it was trained on. Version 1 never drew outlines, strong casts or heavy grain and named no appearance
beyond lighting adjectives and backgrounds."""

SUPERSAMPLE = 2
"""Shapes are drawn at this multiple of the output size and box-filtered down: cheap antialiasing."""


@dataclass(frozen=True)
class Style:
    """Probabilities a scene is drawn from; each dict maps an option to its weight."""

    backgrounds: dict[str, float]
    tones: dict[str, float]
    sizes: dict[str, float]
    lighting: dict[str, float]
    p_blur: float = 0.1
    noise: tuple[float, float] = (0.0, 6.0)
    p_clutter: float = 0.1
    clutter_count: tuple[int, int] = (1, 3)
    p_second_object: float = 0.0
    p_rim: float = 0.3
    colour_jitter: float = 12.0
    centre_bias: float = 0.0
    """0 places objects uniformly; 1 pulls them fully to the centre."""
    light_amount: tuple[float, float] = (0.6, 1.0)
    """Range of the strength of non-normal lighting (tint, dimming); above 1 the tasks' strong tints."""
    outline_width: float = 0.0
    """0 fills shapes with their colour; > 0 draws only their outline, this wide in image-side units, like a
    line drawing. Pretraining never draws outlines: it is the task's domain shift (see ``tasks.py``)."""


PRETRAIN_STYLE = Style(
    backgrounds={"plain": 0.7, "gradient": 0.1, "striped": 0.05, "checkered": 0.05, "dotted": 0.05,
                 "speckled": 0.05},
    tones={"light": 0.65, "mid": 0.15, "dark": 0.2},
    sizes={"small": 0.15, "medium": 0.4, "large": 0.45},
    lighting={"normal": 0.8, "dim": 0.06, "bright": 0.06, "warm": 0.04, "cool": 0.04},
    p_blur=0.08,
    noise=(0.0, 6.0),
    p_clutter=0.1,
    clutter_count=(1, 3),
    p_second_object=0.1,
    centre_bias=0.6,
)


CLEAN_STYLE = Style(
    backgrounds={"plain": 1.0},
    tones={"light": 0.7, "mid": 0.15, "dark": 0.15},
    sizes={"medium": 0.4, "large": 0.6},
    lighting={"normal": 1.0},
    p_blur=0.0,
    noise=(0.0, 3.0),
    p_clutter=0.0,
    p_second_object=0.0,
    centre_bias=0.8,
)
"""Large centred shapes on plain backgrounds: the part of the stream from which outlines are learnt fast."""

P_CLEAN = 0.4
"""Share of the pretraining stream drawn in ``CLEAN_STYLE``; the rest is ``PRETRAIN_STYLE``.

Measured here: a small CNN learns the nine shapes to ~94 % in 120 steps on clean scenes but only to ~30 % on
the varied ones, and without clean scenes contrastive pretraining learns colour and never shape.
"""


@dataclass(frozen=True)
class Appearance:
    """A rare way the pretraining stream renders a scene, and how often its caption says so."""

    p: float
    """Share of the stream drawn this way (each appearance is drawn independently of the others)."""
    style: dict[str, object]
    """``Style`` fields it replaces; tuple values are uniform ranges drawn per scene."""
    p_named: float
    """How often the caption names it: often but not always, as alt-text does."""


APPEARANCES: dict[str, Appearance] = {
    "outline": Appearance(0.04, {"outline_width": (0.016, 0.04)}, 0.8),
    "strong_cast": Appearance(0.03, {"lighting": ("warm", "cool"), "light_amount": (1.2, 2.2)}, 0.8),
    "heavy_grain": Appearance(0.03, {"noise": (10.0, 22.0)}, 0.75),
}
"""Rare in pretraining, common in the tasks: so the tasks stay a domain shift (the stream shows line drawings
in 4 % of scenes, always as dark ink on paper; the default task shows coloured outlines in all of them), but
the words for them exist in the model."""


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    rgb: tuple[int, int, int]
    size: str
    r: float
    """Radius in units of the image side."""
    cx: float
    cy: float
    rot: float
    rim: bool


@dataclass(frozen=True)
class Stroke:
    """A grey distractor: a line (x0, y0, x1, y1) or a dot (x0, y0, radius, 0), in image-side units."""

    kind: str
    coords: tuple[float, float, float, float]
    grey: int
    width: float
    over: bool
    """Drawn over the objects (occluding) rather than under them."""


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    background: str
    tone: str
    bg1: tuple[int, int, int]
    bg2: tuple[int, int, int]
    texture: tuple[float, float]
    """(angle in radians, period in image-side units) for patterned backgrounds."""
    lighting: str
    light_amount: float
    blur: float
    noise: float
    noise_seed: int
    clutter: tuple[Stroke, ...] = field(default_factory=tuple)
    outline_width: float = 0.0


def rng_for(seed: int, stream: int, index: int) -> np.random.Generator:
    """One generator per sample, so samples are independent of order and batch size."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _tone_rgb(rng: np.random.Generator, tone: str) -> tuple[int, int, int]:
    lo, hi = {"light": (195, 250), "mid": (105, 160), "dark": (15, 60)}[tone]
    base = rng.uniform(lo, hi)
    tint = rng.normal(0.0, 7.0, size=3)
    return tuple(int(v) for v in np.clip(base + tint, 0, 255))  # type: ignore[return-value]


def _second_tone(rng: np.random.Generator, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    shift = rng.uniform(30.0, 60.0) * (-1.0 if np.mean(rgb) > 128 else 1.0)
    return tuple(int(v) for v in np.clip(np.array(rgb) + shift + rng.normal(0, 5, 3), 0, 255))  # type: ignore


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return float(np.linalg.norm(np.array(a, dtype=np.float64) - np.array(b, dtype=np.float64)))


def _sample_object(rng: np.random.Generator, style: Style, shape: str, colour: str,
                   size: str | None = None) -> Obj:
    size = size or _pick(rng, style.sizes)
    lo, hi = SIZE_RANGES[size]
    r = float(rng.uniform(lo, hi))
    margin = r * 1.35
    span = max(0.5 - margin, 0.0)
    cx = 0.5 + float(rng.uniform(-span, span)) * (1.0 - style.centre_bias)
    cy = 0.5 + float(rng.uniform(-span, span)) * (1.0 - style.centre_bias)
    rot = math.radians(float(rng.uniform(-1.0, 1.0)) * MAX_ROTATION_DEG[shape])
    rgb = np.clip(np.array(COLOURS[colour]) + rng.normal(0.0, style.colour_jitter, 3), 0, 255)
    return Obj(shape, colour, tuple(int(v) for v in rgb), size, r, cx, cy, rot,  # type: ignore[arg-type]
               bool(rng.random() < style.p_rim))


def _place_apart(rng: np.random.Generator, first: Obj, second: Obj) -> tuple[Obj, Obj] | None:
    """Re-place two objects side by side; None when they cannot be separated (too large)."""
    for _ in range(8):
        pos = []
        for o in (first, second):
            m = o.r * 1.35
            pos.append((float(rng.uniform(m, 1 - m)), float(rng.uniform(m, 1 - m))))
        d = math.dist(pos[0], pos[1])
        if d > (first.r + second.r) * 1.4:
            return (replace(first, cx=pos[0][0], cy=pos[0][1]),
                    replace(second, cx=pos[1][0], cy=pos[1][1]))
    return None


def sample_scene(rng: np.random.Generator, style: Style, *, shape: str | None = None,
                 colour: str | None = None, shapes: tuple[str, ...] = ALL_SHAPES,
                 colours: tuple[str, ...] = ALL_COLOURS) -> Scene:
    """Draw a scene; ``shape``/``colour`` fix the main object (a class of a task), others are random."""
    shape = shape or shapes[int(rng.integers(len(shapes)))]
    colour = colour or colours[int(rng.integers(len(colours)))]
    objects = [_sample_object(rng, style, shape, colour)]
    if rng.random() < style.p_second_object:
        s2 = shapes[int(rng.integers(len(shapes)))]
        c2 = colours[int(rng.integers(len(colours)))]
        pair = _place_apart(rng, _sample_object(rng, style, shape, colour, size="small" if rng.random() < 0.5
                                                else "medium"),
                            _sample_object(rng, style, s2, c2, size="small" if rng.random() < 0.5 else "medium"))
        if pair is not None:
            objects = list(pair)

    background = _pick(rng, style.backgrounds)
    tone = _pick(rng, style.tones)
    # A shape must stand out from its background or its caption is a lie; resample the tone until it does.
    for _ in range(6):
        bg1 = _tone_rgb(rng, tone)
        bg2 = _second_tone(rng, bg1) if background != "plain" else bg1
        if min(_distance(o.rgb, b) for o in objects for b in (bg1, bg2)) > 85:
            break
        tone = TONES[int(rng.integers(len(TONES)))]
    texture = (float(rng.uniform(0, math.pi)), float(rng.uniform(0.1, 0.22)))

    lighting = _pick(rng, style.lighting)
    light_amount = float(rng.uniform(*style.light_amount))  # the same draw as before this field existed
    blur = float(rng.uniform(0.5, 1.1)) if rng.random() < style.p_blur else 0.0
    noise = float(rng.uniform(*style.noise))
    clutter: list[Stroke] = []
    if rng.random() < style.p_clutter:
        for _ in range(int(rng.integers(style.clutter_count[0], style.clutter_count[1] + 1))):
            grey = int(rng.uniform(70, 190))
            over = bool(rng.random() < 0.25)
            if rng.random() < 0.6:
                x0, y0 = rng.uniform(0, 1, 2)
                ang, length = rng.uniform(0, math.pi), rng.uniform(0.15, 0.5)
                coords = (float(x0), float(y0), float(x0 + length * math.cos(ang)),
                          float(y0 + length * math.sin(ang)))
                clutter.append(Stroke("line", coords, grey, float(rng.uniform(0.012, 0.03)), over))
            else:
                x0, y0 = rng.uniform(0.05, 0.95, 2)
                clutter.append(Stroke("dot", (float(x0), float(y0), float(rng.uniform(0.02, 0.05)), 0.0),
                                      grey, 0.0, over))
    # outline_width draws no random number, so adding it left every filled scene (the pretraining stream)
    # exactly as it was.
    return Scene(tuple(objects), background, tone, bg1, bg2, texture, lighting, light_amount, blur, noise,
                 int(rng.integers(2**31)), tuple(clutter), style.outline_width)


# ---------------------------------------------------------------------------------------------- drawing


def _background(scene: Scene, s: int) -> np.ndarray:
    bg1 = np.array(scene.bg1, dtype=np.float32)
    bg2 = np.array(scene.bg2, dtype=np.float32)
    if scene.background == "plain":
        return np.broadcast_to(bg1, (s, s, 3)).copy()
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    ang, period = scene.texture
    if scene.background == "gradient":
        t = (xx - 0.5) * math.cos(ang) + (yy - 0.5) * math.sin(ang) + 0.5
        mix = np.clip(t, 0.0, 1.0)
    elif scene.background == "striped":
        t = xx * math.cos(ang) + yy * math.sin(ang)
        mix = (np.mod(t, period) < period / 2).astype(np.float32)
    elif scene.background == "checkered":
        mix = (np.mod(np.floor(xx / period) + np.floor(yy / period), 2) == 1).astype(np.float32)
    elif scene.background == "dotted":
        dx = np.mod(xx, period) - period / 2
        dy = np.mod(yy, period) - period / 2
        mix = (dx * dx + dy * dy < (period * 0.22) ** 2).astype(np.float32)
    elif scene.background == "speckled":
        grid = np.random.default_rng(scene.noise_seed + 1).random((6, 6)).astype(np.float32)
        small = Image.fromarray((grid * 255).astype(np.uint8))
        mix = np.asarray(small.resize((s, s), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
        mix = (mix > 0.5).astype(np.float32)
    else:
        raise ValueError(f"unknown background {scene.background!r}")
    return bg1 * (1.0 - mix[..., None]) + bg2 * mix[..., None]


def _object_masks(o: Obj, s: int, outline_width: float = 0.0) -> tuple[Image.Image, Image.Image | None]:
    """(mask painted in the object's colour, mask of its darker rim or None)."""
    pts = SHAPES[o.shape](o.cx * s, o.cy * s, o.r * s, o.rot)
    fill = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(fill)
    if outline_width > 0:
        width = max(1, round(outline_width * s))
        draw.polygon(pts, outline=255, width=width)
        if o.shape == "ring":
            draw.polygon(circle(o.cx * s, o.cy * s, o.r * s * RING_HOLE, 0.0), outline=255, width=width)
        return fill, None
    draw.polygon(pts, fill=255)
    if o.shape == "ring":
        draw.polygon(circle(o.cx * s, o.cy * s, o.r * s * RING_HOLE, 0.0), fill=0)
    rim = None
    if o.rim:
        rim = Image.new("L", (s, s), 0)
        rim_draw = ImageDraw.Draw(rim)
        width = max(1, round(s / 64))
        rim_draw.polygon(pts, outline=255, width=width)
        if o.shape == "ring":
            rim_draw.polygon(circle(o.cx * s, o.cy * s, o.r * s * RING_HOLE, 0.0), outline=255, width=width)
    return fill, rim


def _draw_strokes(img: Image.Image, strokes: list[Stroke], s: int) -> None:
    draw = ImageDraw.Draw(img)
    for st in strokes:
        g = (st.grey, st.grey, st.grey)
        if st.kind == "line":
            x0, y0, x1, y1 = (c * s for c in st.coords)
            draw.line([(x0, y0), (x1, y1)], fill=g, width=max(1, round(st.width * s)))
        else:
            x0, y0, r, _ = (c * s for c in st.coords)
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=g)


def _light(arr: np.ndarray, lighting: str, amount: float) -> np.ndarray:
    if lighting == "dim":
        return arr * (0.62 - 0.2 * amount)
    if lighting == "bright":
        return arr * (1.0 - 0.4 * amount) + 255.0 * 0.4 * amount
    if lighting == "warm":
        return arr * (1.0 + amount * np.array([0.08, -0.06, -0.3], dtype=np.float32))
    if lighting == "cool":
        return arr * (1.0 + amount * np.array([-0.25, -0.05, 0.1], dtype=np.float32))
    return arr


def render(scene: Scene, size: int = 64) -> Image.Image:
    """Pixels of a scene, an RGB image of ``size`` x ``size``."""
    s = size * SUPERSAMPLE
    img = Image.fromarray(np.clip(_background(scene, s), 0, 255).astype(np.uint8), "RGB")
    _draw_strokes(img, [c for c in scene.clutter if not c.over], s)
    for o in scene.objects:
        fill, rim = _object_masks(o, s, scene.outline_width)
        img.paste(o.rgb, mask=fill)
        if rim is not None:
            img.paste(tuple(int(v * 0.55) for v in o.rgb), mask=rim)
    _draw_strokes(img, [c for c in scene.clutter if c.over], s)
    img = img.reduce(SUPERSAMPLE)
    if scene.blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(scene.blur))
    arr = _light(np.asarray(img, dtype=np.float32), scene.lighting, scene.light_amount)
    if scene.noise > 0:
        arr = arr + np.random.default_rng(scene.noise_seed).normal(0.0, scene.noise, arr.shape)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def png_bytes(img: Image.Image) -> bytes:
    """PNG encoding without metadata, so equal pixels give equal bytes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- words

_SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big", "huge")}
_LIGHT_ADJ = {
    "dim": ("dark", "dim", "underexposed", "dimly lit"),
    "bright": ("bright", "washed out", "overexposed", "faded"),
    "warm": ("warm", "yellowish", "warm toned", "sepia"),
    "cool": ("cool", "bluish", "cold", "cool toned"),
}
_BG_WORDS = {
    "gradient": ("gradient", "shaded"),
    "striped": ("striped", "stripy"),
    "checkered": ("checkered", "checkerboard"),
    "dotted": ("dotted", "polka dot", "spotted"),
    "speckled": ("speckled", "blotchy", "mottled"),
}
_TONE_WORDS = {"light": ("white", "light", "pale"), "mid": ("gray", "grey"), "dark": ("dark", "black")}
_MEDIA = ("photo", "picture", "image", "photo", "rendering", "snapshot", "drawing")
_OUTLINE_MEDIA = ("line drawing", "outline", "sketch", "outline drawing", "contour drawing", "thin outline",
                  "line drawing", "drawing")
_OUTLINE_SUFFIX = ("drawn in outline", "drawn with thin lines", "as a line drawing", "in outline")
_CAST_PHRASES = {
    "warm": ("in warm light", "under a warm light", "under yellow light", "with a warm colour cast",
             "with a strong yellow cast"),
    "cool": ("in cool light", "under a bluish light", "with a cool colour cast", "under cold blue light"),
}
_GRAIN_WORDS = ("grainy", "noisy", "very grainy", "very noisy")
_BG_FORMS = ("on {a} {bg} background", "on {a} {bg} background", "in front of {a} {bg} pattern",
             "on {a} {bg} pattern", "against {a} {bg} backdrop")
_CLUTTER_WORDS = ("with clutter", "among gray lines", "with some scribbles", "with gray marks", "among grey lines",
                  "among clutter", "with grey scribbles")


def _choice(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _position(o: Obj) -> str | None:
    horiz = "left" if o.cx < 0.4 else "right" if o.cx > 0.6 else ""
    vert = "top" if o.cy < 0.4 else "bottom" if o.cy > 0.6 else ""
    if horiz and vert:
        return f"in the {vert} {horiz} corner"
    if horiz:
        return f"on the {horiz}"
    if vert:
        return f"at the {vert}"
    return None


def _noun_phrase(o: Obj, rng: np.random.Generator, with_size: bool) -> str:
    words = []
    if with_size and o.size in _SIZE_WORDS:
        words.append(_choice(rng, _SIZE_WORDS[o.size]))
    form = rng.random()
    if form < 0.08:
        core = f"{o.shape} coloured {o.colour}"
    elif form < 0.14:
        core = f"{o.colour} {o.shape} shape"
    else:
        core = f"{o.colour} {o.shape}"
    phrase = " ".join([*words, core])
    return f"{_article(phrase)} {phrase}"


def describe(scene: Scene, rng: np.random.Generator) -> str:
    """A caption naming the scene's objects and, with some probability, each nuisance that is present.

    Nuisances are mentioned often but not always, as in web captions: the model learns both that "a red
    circle" fits a red circle in any conditions and that "a dark photo of a red circle" fits dim ones best.
    The rare appearances (outlines, strong casts, heavy grain; ``APPEARANCES``) are named with their own
    words most of the time.
    """
    objs = scene.objects
    with_size = rng.random() < 0.5
    if len(objs) == 2:
        a, b = objs
        if a.shape == b.shape and a.colour == b.colour:
            subject = f"two {a.colour} {plural(a.shape)}"
        else:
            joiner = _choice(rng, (" and ", " and ", " next to ", " beside "))
            subject = _noun_phrase(a, rng, False) + joiner + _noun_phrase(b, rng, False)
    else:
        subject = _noun_phrase(objs[0], rng, with_size)
        pos = _position(objs[0])
        if pos and rng.random() < 0.25:
            subject += " " + pos

    extras = []
    textured = scene.background != "plain"
    if rng.random() < (0.6 if textured else 0.3):
        if textured:
            bg = _choice(rng, _BG_WORDS[scene.background])
            form = _choice(rng, _BG_FORMS)
        else:
            bg = _choice(rng, _TONE_WORDS[scene.tone])
            form = "on {a} {bg} background"
        extras.append(form.format(a=_article(bg), bg=bg))
    if scene.clutter and rng.random() < 0.5:
        extras.append(_choice(rng, _CLUTTER_WORDS))
    strong_cast = scene.lighting in _CAST_PHRASES and scene.light_amount > 1.1
    if strong_cast and rng.random() < APPEARANCES["strong_cast"].p_named:
        extras.append(_choice(rng, _CAST_PHRASES[scene.lighting]))

    adjectives = []
    if scene.lighting != "normal" and rng.random() < 0.7:
        adjectives.append(_choice(rng, _LIGHT_ADJ[scene.lighting]))
    if scene.blur > 0 and rng.random() < 0.6:
        adjectives.append(_choice(rng, ("blurry", "blurred", "out of focus")))
    if scene.noise > 9.0:
        if rng.random() < APPEARANCES["heavy_grain"].p_named:
            adjectives.append(_choice(rng, _GRAIN_WORDS))
    elif scene.noise > 6.0 and rng.random() < 0.4:
        adjectives.append(_choice(rng, ("noisy", "grainy")))

    media = _MEDIA
    if scene.outline_width > 0 and rng.random() < APPEARANCES["outline"].p_named:
        if rng.random() < 0.75:
            media = _OUTLINE_MEDIA
        else:
            extras.append(_choice(rng, _OUTLINE_SUFFIX))
    body = " ".join([subject, *extras])
    if adjectives or media is _OUTLINE_MEDIA or rng.random() < 0.55:
        medium = " ".join([*adjectives, _choice(rng, media)])
        text = f"{_article(medium)} {medium} of {body}"
    else:
        lead = rng.random()
        text = body if lead < 0.6 else ("there is " if lead < 0.8 else "this is ") + body
    if rng.random() < 0.5:
        text += "."
    return text


def _with_appearances(rng: np.random.Generator, style: Style) -> Style:
    """``style`` with the rare appearances this scene gets (see ``APPEARANCES``)."""
    fields: dict[str, object] = {}
    for app in APPEARANCES.values():
        if rng.random() >= app.p:
            continue
        for key, value in app.style.items():
            if key == "lighting":  # one of the listed lightings, always
                fields[key] = {str(value[int(rng.integers(len(value)))]): 1.0}  # type: ignore[index]
            elif key == "outline_width":  # a scalar field: one width per scene
                fields[key] = float(rng.uniform(*value))  # type: ignore[arg-type]
            else:  # a range field: sample_scene draws within it
                fields[key] = value
    return replace(style, **fields) if fields else style  # type: ignore[arg-type]


def pretrain_scene(seed: int, index: int) -> tuple[Scene, str]:
    """The ``index``-th (scene, caption) of the pretraining stream of ``seed``, before drawing."""
    rng = rng_for(seed, STREAM_PRETRAIN, index)
    base = CLEAN_STYLE if rng.random() < P_CLEAN else PRETRAIN_STYLE
    scene = sample_scene(rng, _with_appearances(rng, base))
    if scene.outline_width > 0:
        scene = ink_drawing(scene)
    return scene, describe(scene, rng)


INK = (25, 25, 25)
PAPER = (238, 238, 232)


def ink_drawing(scene: Scene) -> Scene:
    """A line drawing as people make them: dark ink on white paper, whatever colour the object was.

    Pretraining's outlines are drawn so, and the tasks' are coloured outlines on patterned backgrounds: the
    model learns what a line drawing is and its words, while recognising coloured outlines stays a domain
    shift (as a CLIP that has seen sketches still finds ImageNet-Sketch hard).
    """
    objects = tuple(replace(o, colour="black", rgb=INK, rim=False) for o in scene.objects)
    return replace(scene, objects=objects, background="plain", tone="light", bg1=PAPER, bg2=PAPER,
                   lighting="normal", clutter=())


def pretrain_pair(seed: int, index: int, size: int = 64) -> tuple[Image.Image, str]:
    """The ``index``-th (image, caption) pair of the pretraining stream of ``seed``."""
    scene, caption = pretrain_scene(seed, index)
    return render(scene, size), caption
