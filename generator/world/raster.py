"""Rasterise a Scene into uint8 RGB frames, exact optical flow and a sprite-id map (vectorised numpy).

The flow of frame t at pixel p is where the point of the top-most sprite under p lands in frame t+1,
minus p: with poses (c_t, R_t), q = R_t^T (p - c_t) and p' = c_{t+1} + R_{t+1} q. The static background
has zero flow. Edges are hard (no anti-aliasing), so every pixel belongs to exactly one sprite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.world.parts import DESIGN_SIZE, Scene

# Poses and their sines are rounded before use so that last-bit differences between platforms'
# libm / SIMD trigonometry cannot move a pixel across a shape edge.
_POSE_DECIMALS = 9
_TRIG_DECIMALS = 12


@dataclass(frozen=True, eq=False)
class Raster:
    """frames (F, H, W, 3) uint8; flow (F-1, H, W, 2) float32 px (u right, v down); ids (F, H, W) int16,
    0 = background, k = scene.sprites[k - 1]."""

    frames: np.ndarray
    flow: np.ndarray
    ids: np.ndarray


def rasterize(scene: Scene) -> Raster:
    """Draw the scene's sprites in order over its background, frame by frame, with their exact flow."""
    size, count = scene.size, scene.frames
    k = size / DESIGN_SIZE
    frames = np.repeat(scene.background[None], count, axis=0)
    flow = np.zeros((count - 1, size, size, 2), dtype=np.float32)
    ids = np.zeros((count, size, size), dtype=np.int16)
    for index, sprite in enumerate(scene.sprites, start=1):
        pose = np.round(sprite.poses * np.array([k, k, 1.0]), _POSE_DECIMALS)
        shape = sprite.shape.scaled(k)
        reach = shape.radius + 1.0
        x0, x1 = (
            max(int(np.floor(pose[:, 0].min() - reach)), 0),
            min(int(np.ceil(pose[:, 0].max() + reach)) + 1, size),
        )
        y0, y1 = (
            max(int(np.floor(pose[:, 1].min() - reach)), 0),
            min(int(np.ceil(pose[:, 1].max() + reach)) + 1, size),
        )
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float64)[None, None, :]
        ys = np.arange(y0, y1, dtype=np.float64)[None, :, None]
        cos = np.round(np.cos(pose[:, 2]), _TRIG_DECIMALS)[:, None, None]
        sin = np.round(np.sin(pose[:, 2]), _TRIG_DECIMALS)[:, None, None]
        static = not np.any(pose != pose[:1])
        sel = slice(0, 1) if static else slice(None)  # a static sprite needs its mask only once
        dx = xs - pose[sel, 0, None, None]
        dy = ys - pose[sel, 1, None, None]
        a = cos[sel] * dx + sin[sel] * dy  # local coordinates: R^T (p - c)
        b = cos[sel] * dy - sin[sel] * dx
        mask = np.broadcast_to(shape.contains(a, b), (count, y1 - y0, x1 - x0))
        window = (slice(None), slice(y0, y1), slice(x0, x1))
        np.copyto(frames[window], np.asarray(sprite.color, dtype=np.uint8), where=mask[..., None])
        np.copyto(ids[window], np.int16(index), where=mask)
        if static:
            np.copyto(flow[window], np.float32(0.0), where=mask[:-1, ..., None])
            continue
        a0, b0 = a[:-1], b[:-1]
        u = pose[1:, 0, None, None] + cos[1:] * a0 - sin[1:] * b0 - xs
        v = pose[1:, 1, None, None] + sin[1:] * a0 + cos[1:] * b0 - ys
        np.copyto(flow[window], np.stack([u, v], axis=-1).astype(np.float32), where=mask[:-1, ..., None])
    return Raster(frames=frames, flow=flow, ids=ids)
