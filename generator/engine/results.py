"""The result of one optimisation row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VisualizationResult:
    """One (unit, chi, seed) visualization.

    ``inputs`` maps each model input's name to a float32 (C, T, H, W) array in network
    units. ``loss`` is the energy E = -w a + sum of regularisers at every step (float32,
    evaluated on the jittered clip the step used). ``objective`` is E at the final inputs
    (no jitter, leaky ReLUs: the function that was minimised); ``activation`` is the
    unit's rectified response (see engine.objectives) to the final inputs through the
    network's own ReLUs, and
    ``normalized_activation`` is activation / rho. ``terms`` holds the final parts of E
    ("objective_term" = w a with leaky ReLUs, "alpha/<input>", "stv/<input>") and the RMS
    temporal variation of each input ("temporal_variation/<input>"). ``wall_time`` is this
    row's share of its batch's seconds. ``status`` is "ok" or "failed: non-finite values at
    step k" (k == steps: the final evaluation); a failed row keeps its last finite inputs.
    """

    layer: str
    unit: int
    chi: float
    seed: int
    preset: str
    inputs: dict[str, np.ndarray]
    loss: np.ndarray
    objective: float
    activation: float
    normalized_activation: float
    rho: float
    steps: int
    wall_time: float
    status: str
    terms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"
