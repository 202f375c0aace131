"""Named presets: the faithful ``paper`` method and two extras beyond the paper."""

from __future__ import annotations

from collections.abc import Callable

from generator.engine.settings import EngineSettings


def paper(**overrides: object) -> EngineSettings:
    """The published method: pixel parameterisation, jitter, alpha-norm and chi-weighted variation."""
    return EngineSettings(**{"preset": "paper", **overrides})  # type: ignore[arg-type]


def fourier(**overrides: object) -> EngineSettings:
    """Spatiotemporal Fourier basis (spatial 1/f^1, temporal 1/f^0.5) with decorrelated colour.

    The paper's regularisers stay on, so chi keeps its meaning; the temporal decay is
    milder than the spatial one so that chi, which the atlas sweeps, remains the main
    control over how much the flow may change across fields.
    """
    return EngineSettings(**{"preset": "fourier", **overrides})  # type: ignore[arg-type]


def robust(**overrides: object) -> EngineSettings:
    """The paper's method plus coherent random scale (+-10 %) and rotation (+-10 degrees) per step."""
    return EngineSettings(**{"preset": "robust", **overrides})  # type: ignore[arg-type]


PRESETS: dict[str, Callable[..., EngineSettings]] = {
    "paper": paper,
    "fourier": fourier,
    "robust": robust,
}
