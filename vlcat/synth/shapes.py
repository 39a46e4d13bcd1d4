"""Geometry of the world's shapes.

Every shape is a function of (centre, radius, rotation) returning the polygon PIL should fill, so that
drawing stays a single ``ImageDraw.polygon`` call and is deterministic to the byte. Radii are chosen so
that shapes of the same nominal size cover roughly the same area: the model should tell shapes apart by
outline, not by how much colour they put on the canvas.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Point = tuple[float, float]


def _regular(n: int, cx: float, cy: float, r: float, rot: float, phase: float) -> list[Point]:
    angles = phase + rot + np.arange(n) * (2.0 * math.pi / n)
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]


def _rotate(points: np.ndarray, cx: float, cy: float, rot: float) -> list[Point]:
    c, s = math.cos(rot), math.sin(rot)
    xs = cx + points[:, 0] * c - points[:, 1] * s
    ys = cy + points[:, 0] * s + points[:, 1] * c
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def circle(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    # A 48-gon is indistinguishable from a circle at these sizes and keeps one drawing path.
    return _regular(48, cx, cy, r * 0.95, rot, 0.0)


def square(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    return _regular(4, cx, cy, r * 1.1, rot, math.pi / 4)


def diamond(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    # Taller than wide, so a diamond is never just a square seen at 45 degrees.
    pts = np.array([[0.0, -1.25], [0.75, 0.0], [0.0, 1.25], [-0.75, 0.0]]) * r
    return _rotate(pts, cx, cy, rot)


def triangle(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    return _regular(3, cx, cy + 0.15 * r, r * 1.3, rot, -math.pi / 2)


def hexagon(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    return _regular(6, cx, cy, r * 1.0, rot, 0.0)


def star(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    outer = _regular(5, cx, cy, r * 1.3, rot, -math.pi / 2)
    inner = _regular(5, cx, cy, r * 0.55, rot, -math.pi / 2 + math.pi / 5)
    return [p for pair in zip(outer, inner, strict=True) for p in pair]


def cross(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    a, w = 1.15, 0.4
    pts = np.array(
        [[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a], [-w, a], [-w, w], [-a, w], [-a, -w],
         [-w, -w]]
    ) * r
    return _rotate(pts, cx, cy, rot)


def heart(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    t = np.linspace(0.0, 2.0 * math.pi, 40, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.0], axis=1) * (r / 14.0)
    return _rotate(pts, cx, cy, rot)


def ring(cx: float, cy: float, r: float, rot: float) -> list[Point]:
    """Outer boundary only; the renderer punches the hole (see ``RING_HOLE``)."""
    return circle(cx, cy, r, rot)


RING_HOLE = 0.55
"""Inner radius of a ring as a fraction of its outer radius."""

SHAPES: dict[str, Callable[[float, float, float, float], list[Point]]] = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "star": star,
    "hexagon": hexagon,
    "cross": cross,
    "diamond": diamond,
    "heart": heart,
    "ring": ring,
}

MAX_ROTATION_DEG: dict[str, float] = {
    "circle": 180.0,
    "square": 15.0,
    "triangle": 20.0,
    "star": 36.0,
    "hexagon": 30.0,
    "cross": 20.0,
    "diamond": 10.0,
    "heart": 20.0,
    "ring": 180.0,
}
"""How far each shape may turn before it reads as another shape (a square at 45 degrees is a diamond)."""

PLURALS: dict[str, str] = {"cross": "crosses"}


def plural(shape: str) -> str:
    return PLURALS.get(shape, shape + "s")
