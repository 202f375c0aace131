"""Render one clip: (class, seed, spec, probe, speed) -> Clip with uint8 frames and exact float32 flow.

Every random draw comes from numpy Generators seeded by a SeedSequence of (seed, class name), split
into independent streams for the speed, the background, the scene and the flow noise, so that
overriding the speed or applying a probe leaves every other nuisance of the clip unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.errors import ConfigError
from generator.world.classes import ACTIONS, check_probe, class_index
from generator.world.parts import Scene
from generator.world.raster import Raster, rasterize
from generator.world.seeds import seed_sequence
from generator.world.spec import WorldSpec
from generator.world.stage import Stage


@dataclass(frozen=True, eq=False)
class Clip:
    """frames (F, H, W, 3) uint8; flow (F-1, H, W, 2) float32 pixels (u right, v down), flow[t] moves
    frame t onto frame t+1; label = index in CLASSES; speed = the speed factor used."""

    frames: np.ndarray
    flow: np.ndarray
    label: int
    class_name: str
    speed: float
    probe: str | None = None


def _streams(class_name: str, seed: int) -> list[np.random.Generator]:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"A clip seed must be a non-negative integer, got {seed!r}.")
    children = seed_sequence(int(seed), class_name).spawn(4)
    return [np.random.Generator(np.random.PCG64(child)) for child in children]


def draw_speed(rng: np.random.Generator, spec: WorldSpec) -> float:
    """A speed factor, log-uniform over spec.speed_range (a multiplicative nuisance). Rounded to 6 decimals
    so that last-bit differences of exp/log between platforms cannot change it."""
    low, high = spec.speed_range
    speed = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))), 6)
    return min(max(speed, low), high)


def build_scene(
    class_name: str, seed: int, spec: WorldSpec, probe: str | None = None, speed: float | None = None
) -> tuple[Scene, float]:
    """The clip's scene (background + sprites with poses) and the speed factor used."""
    class_index(class_name)
    check_probe(probe, class_name)
    speed_rng, background_rng, scene_rng, _ = _streams(class_name, seed)
    drawn = draw_speed(speed_rng, spec)
    if speed is not None and not (np.isfinite(speed) and speed > 0):
        raise ConfigError(f"A clip's speed factor must be a positive number, got {speed!r}.")
    used = drawn if speed is None else float(speed)
    action = ACTIONS[class_name]
    stage = Stage(rng=scene_rng, size=spec.size, frames=spec.frames_per_clip, speed=used, probe=probe)
    sprites = tuple(action.build(stage))
    return Scene(
        background=action.background(background_rng, spec.size), sprites=sprites, frames=stage.frames
    ), used


def render_raster(
    class_name: str, seed: int, spec: WorldSpec, probe: str | None = None, speed: float | None = None
) -> tuple[Scene, Raster, float]:
    """Scene, its raster (frames, noise-free flow, sprite ids) and the speed used: for inspection and tests."""
    scene, used = build_scene(class_name, seed, spec, probe, speed)
    return scene, rasterize(scene), used


def render_clip(
    class_name: str, seed: int, spec: WorldSpec, probe: str | None = None, speed: float | None = None
) -> Clip:
    """Render one clip deterministically (bit-identical for the same arguments on every machine)."""
    _, raster, used = render_raster(class_name, seed, spec, probe, speed)
    flow = raster.flow
    if spec.flow_noise > 0:
        noise_rng = _streams(class_name, seed)[3]
        flow = flow + noise_rng.normal(0.0, spec.flow_noise, size=flow.shape).astype(np.float32)
    return Clip(
        frames=raster.frames,
        flow=flow,
        label=class_index(class_name),
        class_name=class_name,
        speed=used,
        probe=probe,
    )
