"""Named presets: the faithful ``paper`` method, the ``atlas``'s calibrated defaults and two
extras beyond the paper."""

from __future__ import annotations

from collections.abc import Callable

from generator.config import VisualizeConfig
from generator.engine.settings import EngineSettings


def paper(**overrides: object) -> EngineSettings:
    """The published method: pixel parameterization, jitter, alpha-norm and chi-weighted variation."""
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


def atlas(**overrides: object) -> EngineSettings:
    """The atlas's own defaults: the ``visualize`` section of the configuration schema
    (generator/config.py, atlas_config.yaml) as it stands with no file and no ``--set``.

    They are the paper's method with the choices the atlas calibrated on its default model
    (temporal DCT basis, leaky ReLUs for the first two thirds of the steps, a larger
    variation weight on the motion stream); ``preset`` in it names the parameterization.
    """
    defaults = EngineSettings.from_config(VisualizeConfig())  # the schema is the one source of these values
    return defaults.replace(**overrides) if overrides else defaults


PRESETS: dict[str, Callable[..., EngineSettings]] = {
    "paper": paper,
    "atlas": atlas,
    "fourier": fourier,
    "robust": robust,
}
