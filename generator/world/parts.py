"""Scene primitives: shapes, parts rigidly fixed in an object's frame, sprites with a pose per frame, scenes.

Coordinates are pixels of a 64 x 64 design canvas (x right, y down, pixel centres at integers); the
rasteriser scales them to the rendered size. A pose is (x, y, angle): local point q maps to
(x, y) + R(angle) q, with R the usual rotation matrix (positive angles turn clockwise on screen,
because y points down).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

DESIGN_SIZE = 64
"""Side of the design canvas in which scenes are described."""

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    """An ellipse (semi-axes hx, hy) or a rectangle (half sides hx, hy) centred on its local origin."""

    kind: Literal["ellipse", "rect"]
    hx: float
    hy: float

    def contains(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Boolean mask of local points (a, b) inside the shape."""
        if self.kind == "ellipse":
            return (a / self.hx) ** 2 + (b / self.hy) ** 2 <= 1.0
        return (np.abs(a) <= self.hx) & (np.abs(b) <= self.hy)

    @property
    def radius(self) -> float:
        """Radius of a disc around the local origin that holds the whole shape."""
        return max(self.hx, self.hy) if self.kind == "ellipse" else float(np.hypot(self.hx, self.hy))

    def scaled(self, factor: float) -> Shape:
        return Shape(self.kind, self.hx * factor, self.hy * factor)


def ellipse(hx: float, hy: float | None = None) -> Shape:
    return Shape("ellipse", hx, hx if hy is None else hy)


def rect(hx: float, hy: float) -> Shape:
    return Shape("rect", hx, hy)


@dataclass(frozen=True)
class Part:
    """A shape fixed in an object's frame: drawn at `offset`, turned by `angle`, in one colour."""

    name: str
    shape: Shape
    color: Color
    offset: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0


@dataclass(frozen=True, eq=False)
class Sprite:
    """A shape in one colour with a pose (x, y, angle) per frame: poses has shape (F, 3)."""

    name: str
    shape: Shape
    color: Color
    poses: np.ndarray


@dataclass(frozen=True, eq=False)
class Scene:
    """A static background (size, size, 3) uint8 and sprites (design units), drawn in order (last on top)."""

    background: np.ndarray
    sprites: tuple[Sprite, ...]
    frames: int

    @property
    def size(self) -> int:
        return int(self.background.shape[0])


def poses(x: np.ndarray | float, y: np.ndarray | float, angle: np.ndarray | float, frames: int) -> np.ndarray:
    """Stack per-frame (or constant) x, y, angle into an (F, 3) float64 pose array."""
    out = np.empty((frames, 3), dtype=np.float64)
    out[:, 0], out[:, 1], out[:, 2] = x, y, angle
    return out


def compose(parent: np.ndarray, offset: tuple[Any, Any], angle: float = 0.0) -> np.ndarray:
    """Poses of a frame at `offset` (turned by `angle`) inside a parent moving with `parent` poses; the
    offset may vary per frame (arrays of length F), e.g. a bow sliding along its instrument."""
    c, s = np.cos(parent[:, 2]), np.sin(parent[:, 2])
    out = np.empty_like(parent)
    out[:, 0] = parent[:, 0] + c * offset[0] - s * offset[1]
    out[:, 1] = parent[:, 1] + s * offset[0] + c * offset[1]
    out[:, 2] = parent[:, 2] + angle
    return out


def _scaled(offset: tuple[float, float], scale: float) -> tuple[float, float]:
    return offset[0] * scale, offset[1] * scale


def place(parts: Iterable[Part], parent: np.ndarray, scale: float = 1.0) -> list[Sprite]:
    """Sprites for parts of one rigid object moving with `parent` poses; `scale` sizes the object."""
    return [
        Sprite(p.name, p.shape.scaled(scale), p.color, compose(parent, _scaled(p.offset, scale), p.angle))
        for p in parts
    ]


def segment(
    name: str, start: tuple[float, float], end: tuple[float, float], width: float, color: Color
) -> Part:
    """A straight bar of the given width from `start` to `end` (object-frame points)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    half = float(np.hypot(dx, dy)) / 2.0
    mid = ((start[0] + end[0]) / 2.0, (start[1] + end[1]) / 2.0)
    return Part(name, rect(half, width / 2.0), color, mid, float(np.arctan2(dy, dx)))


def color_of(parts: Iterable[Part], name: str) -> Color:
    """The colour of the first part called `name`."""
    for p in parts:
        if p.name == name:
            return p.color
    raise KeyError(name)


def shifted(parts: Iterable[Part], dx: float, dy: float) -> list[Part]:
    """The parts moved by (dx, dy) inside their object's frame."""
    return [Part(p.name, p.shape, p.color, (p.offset[0] + dx, p.offset[1] + dy), p.angle) for p in parts]
