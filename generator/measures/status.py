"""An honest status for every visualization: did it drive its unit, and how hard?

*(choice; documented in docs/tables.md)* With a the unit's activation on the result (the
rectified response through the network's own ReLUs, the quantity the objective maximises)
and rho the data maximum of that same quantity:

* ``failed: <reason>``: the optimisation produced non-finite values, or a <= 0 for a
  rectified unit: the unit is off on its own visualization, so the picture shows nothing
  the unit responds to (a class output's pre-softmax score has no such zero: any value can
  be the top score, so only the comparison with rho applies to it);
* ``weak``: 0 < a < WEAK_FRACTION * rho: it drives the unit, but less than half as hard as
  the unit's strongest held-out clip, so it is not what the unit responds to most;
* ``ok``: otherwise (also whenever rho is unknown, i.e. without data, and a > 0).

Only ``ok`` results appear in galleries, findings and failure pages; unit pages show all,
with their status.
"""

from __future__ import annotations

import math

WEAK_FRACTION = 0.5
OK = "ok"
WEAK = "weak"
NOT_DRIVEN = "failed: activation <= 0"


def result_status(
    engine_status: str, activation: float | None, rho: float | None, rectified: bool = True
) -> str:
    """The status of one visualization from the engine's status, its activation and rho
    (``rectified``: whether the activation is a rectified response, i.e. not a class score)."""
    if engine_status != OK:
        return engine_status
    if activation is None or not math.isfinite(activation):
        return "failed: no finite activation"
    if rectified and activation <= 0:
        return NOT_DRIVEN
    if rho is not None and math.isfinite(rho) and rho > 0 and activation < WEAK_FRACTION * rho:
        return WEAK
    return OK
