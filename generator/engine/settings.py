"""Engine settings: the paper's defaults (method.md) in one frozen, validated value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from generator.errors import ConfigError

PresetName = Literal["paper", "fourier", "robust"]
KINDS = ("rgb", "flow")
PRESET_NAMES = ("paper", "fourier", "robust")

KindScales = tuple[tuple[str, float], ...]
_UNIT_SCALES: KindScales = (("flow", 1.0), ("rgb", 1.0))


@dataclass(frozen=True)
class EngineSettings:
    """How activation maximisation runs. Every default is the paper's (see method.md).

    ``alpha_scale`` / ``tv_scale`` multiply lam_alpha = (1/B)^alpha and lam_tv =
    (ratio/B)^beta per input kind ("rgb", "flow"); the paper uses the same values for both
    streams (1.0). They accept a mapping and are stored as sorted (kind, value) pairs so
    that settings stay hashable.

    ``preset`` picks the parameterisation and transforms: "paper" (pixels, jitter),
    "fourier" (spatiotemporal Fourier basis with 1/f decay and decorrelated colour) and
    "robust" (pixels, plus a coherent random scale and rotation of the whole clip).
    ``robust_scale`` / ``robust_rotation`` left as None take the preset's value (0 for
    "paper" and "fourier", 0.1 and 10 degrees for "robust").

    ``leaky_fraction`` *(choice, beyond the paper)*: the share of the steps during which
    ReLUs leak with ``leaky_slope``; the remaining steps use the network's own ReLUs. The
    paper leaks throughout (1.0). Leaking throughout lets the optimiser reach a high
    objective through negative pre-activations that the real network cuts off: measured on
    the default model's fusion units, 45 % of visualisations ended with a negative real
    activation, against 17 % when the last third of the steps uses the real ReLUs.

    ``temporal_basis`` *(choice, beyond the paper)*: "pixel" optimises the pixels as the
    paper does; "dct" optimises the time axis of each input in an orthonormal DCT basis
    (same problem and optimum, a better-conditioned path at large chi; see
    :class:`generator.engine.parameterization.TemporalDCTParameterization`). Only the
    "paper" and "robust" presets use it; "fourier" is spectral in time already.
    """

    preset: PresetName = "paper"
    steps: int = 300
    alpha: float = 6.0
    bound: float = 80.0
    tv_bound_ratio: float = 6.5
    beta: float = 2.0
    lr_scale: float = 0.05
    momentum: float = 0.9
    rms_decay: float = 0.9
    jitter: bool = True
    leaky_slope: float = 0.05
    leaky_fraction: float = 1.0
    temporal_basis: Literal["pixel", "dct"] = "pixel"
    objective: Literal["centre", "mean"] = "centre"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    channels_last: bool = True
    batch_size: int | None = None
    compile: bool = False
    norm_projection: bool = True
    alpha_scale: KindScales | Mapping[str, float] = field(default=_UNIT_SCALES)
    tv_scale: KindScales | Mapping[str, float] = field(default=_UNIT_SCALES)
    spatial_decay: float = 1.0
    temporal_decay: float = 0.5
    decorrelate_colour: bool = True
    robust_scale: float | None = None
    robust_rotation: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha_scale", _kind_scales("alpha_scale", self.alpha_scale))
        object.__setattr__(self, "tv_scale", _kind_scales("tv_scale", self.tv_scale))
        _check_choice("preset", self.preset, PRESET_NAMES)
        _check_choice("objective", self.objective, ("centre", "mean"))
        _check_choice("precision", self.precision, ("auto", "fp32", "bf16"))
        _check_choice("temporal_basis", self.temporal_basis, ("pixel", "dct"))
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            _fail("steps", self.steps, "an integer >= 1")
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            _fail("batch_size", self.batch_size, "an integer >= 1, or None to choose one for the device")
        for name in ("alpha", "bound", "tv_bound_ratio", "beta", "lr_scale"):
            _check_range(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("momentum", "rms_decay", "leaky_slope"):
            _check_range(name, getattr(self, name), low=0.0, high=1.0)
        _check_range("leaky_fraction", self.leaky_fraction, low=0.0, high=1.0, high_open=False)
        for name in ("spatial_decay", "temporal_decay"):
            _check_range(name, getattr(self, name), low=0.0, high=4.0, high_open=False)
        if self.robust_scale is not None:
            _check_range("robust_scale", self.robust_scale, low=0.0, high=0.5)
        if self.robust_rotation is not None:
            _check_range("robust_rotation", self.robust_rotation, low=0.0, high=45.0, high_open=False)
        for name in ("jitter", "channels_last", "compile", "norm_projection", "decorrelate_colour"):
            if not isinstance(getattr(self, name), bool):
                _fail(name, getattr(self, name), "true or false")

    # Derived values -------------------------------------------------------------------
    @property
    def parameterization(self) -> Literal["pixel", "dct", "fourier"]:
        """What is optimised: "fourier" for that preset, else pixels, with the time axis in
        the DCT basis when ``temporal_basis`` is "dct"."""
        if self.preset == "fourier":
            return "fourier"
        return "dct" if self.temporal_basis == "dct" else "pixel"

    @property
    def scale_range(self) -> float:
        """Largest relative change of the coherent random scale (0: no scaling)."""
        if self.robust_scale is not None:
            return float(self.robust_scale)
        return 0.1 if self.preset == "robust" else 0.0

    @property
    def rotation_range(self) -> float:
        """Largest coherent random rotation in degrees (0: no rotation)."""
        if self.robust_rotation is not None:
            return float(self.robust_rotation)
        return 10.0 if self.preset == "robust" else 0.0

    def lam_alpha(self, kind: str) -> float:
        """lam_alpha = (1/B)^alpha times the per-kind multiplier."""
        return (1.0 / self.bound) ** self.alpha * dict(self.alpha_scale)[kind]

    def lam_tv(self, kind: str) -> float:
        """lam_tv = (ratio/B)^beta = (1/V)^beta times the per-kind multiplier."""
        return (self.tv_bound_ratio / self.bound) ** self.beta * dict(self.tv_scale)[kind]

    def replace(self, **changes: object) -> "EngineSettings":
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(values)
        if unknown:
            raise ConfigError(
                f"Unknown engine setting(s) {', '.join(sorted(unknown))}; valid settings are "
                f"{', '.join(values)}."
            )
        values.update(changes)
        return EngineSettings(**values)  # type: ignore[arg-type]


def _fail(name: str, value: object, valid: str) -> None:
    raise ConfigError(f"Engine setting {name!r} is {value!r}; it must be {valid}.")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(name, value, "one of " + ", ".join(repr(c) for c in choices))


def _check_range(
    name: str,
    value: object,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = True,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = f"> {low}" if low_open else f">= {low}"
        hi = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        _fail(name, value, f"a finite number {lo}{hi}")


def _kind_scales(name: str, value: object) -> KindScales:
    items = dict(value.items()) if isinstance(value, Mapping) else dict(value)  # type: ignore[arg-type]
    unknown = set(items) - set(KINDS)
    if unknown:
        _fail(name, value, "a mapping from input kinds ('rgb', 'flow') to multipliers")
    merged = dict(_UNIT_SCALES)
    for kind, scale in items.items():
        _check_range(f"{name}[{kind!r}]", scale, low=0.0)
        merged[kind] = float(scale)
    return tuple(sorted(merged.items()))
