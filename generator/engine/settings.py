"""Engine settings: the paper's defaults (method.md) in one frozen, validated value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from pydantic import ValidationError

from generator.config import VisualizeConfig
from generator.errors import ConfigError

PresetName = Literal["paper", "fourier", "robust"]

KindScales = tuple[tuple[str, float], ...]
_UNIT_SCALES: KindScales = (("flow", 1.0), ("rgb", 1.0))


@dataclass(frozen=True)
class EngineSettings:
    """How activation maximisation runs. Every default is the paper's (see method.md).

    ``alpha_scale`` / ``tv_scale`` multiply lam_alpha = (1/B)^alpha and lam_tv =
    (ratio/B)^beta per input kind ("rgb", "flow"); the paper uses the same values for both
    streams (1.0). They accept a mapping and are stored as sorted (kind, value) pairs so
    that settings stay hashable.

    ``preset`` picks the parameterization and transforms: "paper" (pixels, jitter),
    "fourier" (spatiotemporal Fourier basis with 1/f decay and decorrelated colour) and
    "robust" (pixels, plus a coherent random scale and rotation of the whole clip).
    ``robust_scale`` / ``robust_rotation`` left as None take the preset's value (0 for
    "paper" and "fourier", 0.1 and 10 degrees for "robust").

    ``leaky_fraction`` *(choice, beyond the paper)*: the share of the steps during which
    ReLUs leak with ``leaky_slope``; the remaining steps use the network's own ReLUs. The
    paper leaks throughout (1.0). Leaking throughout lets the optimiser reach a high
    objective through negative pre-activations that the real network cuts off; on the
    default model's fusion units, far fewer visualizations end with a negative real
    activation when the last third of the steps uses the real ReLUs (the figures are in
    bench/results/notes.md).

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
        # One schema: every value is checked (and normalized, e.g. 1 -> True) by the
        # configuration's ``visualize`` section, so YAML, ``--set`` and Python share the rules.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("alpha_scale", "tv_scale"):
            values[name] = _merged_scales(name, values[name])
        try:
            checked = VisualizeConfig.model_validate(values)
        except ValidationError as error:
            raise ConfigError(_engine_errors(error)) from error
        for name in values:
            value = getattr(checked, name)
            if name in ("alpha_scale", "tv_scale"):
                value = tuple(sorted(value.items()))
            object.__setattr__(self, name, value)

    @classmethod
    def from_config(cls, visualize: VisualizeConfig) -> EngineSettings:
        """The engine's settings of a validated ``visualize`` section (YAML and ``--set``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in visualize.model_dump().items() if k in names})

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

    def replace(self, **changes: object) -> EngineSettings:
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


def _merged_scales(name: str, value: object) -> object:
    """Per-kind multipliers given as a mapping or pairs, completed with 1.0 for missing kinds."""
    try:
        items = dict(value.items()) if isinstance(value, Mapping) else dict(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value  # the schema names the problem
    return {**dict(_UNIT_SCALES), **items}


def _engine_errors(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ").rstrip(".")
        problems.append(f"Engine setting {field!r} is {item.get('input')!r}: {message}")
    return "; ".join(problems) + " (the same key as visualize.<name> in atlas_config.yaml)."
