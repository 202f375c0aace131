"""Invariance of units to motion speed, and the convergence of an optimisation.

Definitions (choices of this atlas; method.md leaves them open):

* **Invariance across chi** (data-free): for each chi, the unit's activation reached by
  the visualization, positive part, averaged over seeds; the score is the smallest of
  these over the largest, in [0, 1]. 1 means the unit can be driven equally hard whatever
  the temporal weight chi (slow or fast motion); near 0 means it responds only to one
  speed regime. Undefined (None) when the largest is <= 0 or fewer than two chi values
  have a finished visualization, and for units that no temporal input reaches (e.g. the
  appearance tower of a two-stream net, which sees one RGB frame): chi only weighs the
  temporal variation of an input, so such a unit is blind to it rather than invariant, and
  a score of 1 would inflate the mean of its layer. Activations are compared raw: dividing
  them all by the unit's data maximum rho would not change the ratio.
* **Speed-tuning invariance** (data-driven companion): the unit's top real clips are
  re-rendered at several speed factors spanning the world's speed range; with r_s the
  mean response over those clips at speed s, the score is min_s r_s / max_s r_s, in
  [0, 1]. Undefined when max_s r_s <= 0 (the unit does not respond) and, as above, for
  units that no temporal input reaches.
* **Converged**: with w = max(1, round(10 % of the steps)) and window means m of the loss
  (each step's loss is measured on a freshly jittered clip, so single steps are noisy),
  the last window's mean differs from the one before by at most 1 % of the final objective
  term w a (the unit's activation in units of its rho): |m_last - m_before| <= 0.01 |w a|.
  The loss is not compared with its own size, because the energy -w a + regularisers
  passes through zero, nor with the run's whole progress, which the first steps dominate
  (the regularisers collapse the noise initialisation: about 250 energy units on the
  default model, against a final w a of 1-20). Undefined without the objective term.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from generator.zoo.spec import InputSpec

CONVERGED_FRACTION = 0.1
CONVERGED_TOLERANCE = 0.01


def chi_invariance(activations: Mapping[float, Iterable[float | None]]) -> float | None:
    """Smallest over largest seed-averaged positive-part activation across chi (see module doc)."""
    levels = []
    for values in activations.values():
        finite = [max(float(v), 0.0) for v in values if v is not None and math.isfinite(v)]
        if finite:
            levels.append(sum(finite) / len(finite))
    if len(levels) < 2 or max(levels) <= 0:
        return None
    return min(levels) / max(levels)


def chi_reaches(inputs: Sequence[InputSpec], streams: Sequence[str]) -> bool:
    """Whether chi can change what a unit fed by ``streams`` sees (empty streams = every input).

    True when one of those inputs has a temporal axis for the variation term: a flow stack
    of more than one field, or more than one frame."""
    return any(spec.temporal for spec in inputs if not streams or spec.name in streams)


def response_flatness(responses: np.ndarray) -> np.ndarray:
    """Speed-tuning invariance from responses (units, clips, speeds) -> (units,), NaN where undefined.

    The response at each speed is averaged over the clips first; the score is the minimum
    over speeds of that mean divided by its maximum.
    """
    responses = np.asarray(responses, dtype=np.float64)
    if responses.ndim != 3:
        raise ValueError(f"responses must be (units, clips, speeds), got shape {responses.shape}")
    curve = np.clip(responses.mean(axis=1), 0.0, None)  # (units, speeds)
    top = curve.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = curve.min(axis=1) / top
    return np.where(top > 0, flat, np.nan)


def converged(
    loss: Sequence[float] | np.ndarray,
    objective_term: float | None,
    fraction: float = CONVERGED_FRACTION,
    tolerance: float = CONVERGED_TOLERANCE,
) -> bool | None:
    """Whether the loss had levelled off against the final objective term w a (see module doc);
    None with too few finite steps or no finite objective term."""
    values = np.asarray(loss, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2 or not np.all(np.isfinite(values)):
        return None
    if objective_term is None or not math.isfinite(objective_term):
        return None
    window = max(1, int(round(fraction * len(values))))
    if len(values) < 2 * window:
        window = len(values) // 2
    last = values[-window:].mean()
    before = values[-2 * window : -window].mean()
    return bool(abs(last - before) <= tolerance * abs(objective_term))
