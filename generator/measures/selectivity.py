"""Class selectivity (Morcos et al., ICLR 2018) of units from their class-conditional means.

SI = (mu_max - mu_rest) / (mu_max + mu_rest), where mu_c is the class-conditional mean of a
unit's spatially averaged post-ReLU response on held-out clips, mu_max = max_c mu_c and
mu_rest is the mean of mu_c over the other classes. SI lies in [0, 1]: 0 when every class
drives the unit equally, 1 when only one class does. A unit that never responds (all
mu_c below ``dead_threshold``) has no SI (NaN). Whether a unit is dead on the data is
decided from rho against its layer (:func:`dead_on_data`); the atlas leaves the SI of such
units undefined too.
"""

from __future__ import annotations

import numpy as np

DEAD_THRESHOLD = 1e-6
# *(choice; method.md's example)* A unit is dead on the data when its rho is below 1 % of its
# layer's median rho.
DEAD_FRACTION = 0.01


def class_selectivity(class_means: np.ndarray, dead_threshold: float = DEAD_THRESHOLD) -> np.ndarray:
    """SI per unit from (classes, units) non-negative class means; NaN for dead units."""
    means = np.asarray(class_means, dtype=np.float64)
    if means.ndim != 2 or means.shape[0] < 2:
        raise ValueError("class_means must be (classes >= 2, units)")
    top = means.max(axis=0)
    rest = (means.sum(axis=0) - top) / (means.shape[0] - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        si = (top - rest) / (top + rest)
    return np.where(dead_units(means, dead_threshold), np.nan, si)


def dead_units(class_means: np.ndarray, dead_threshold: float = DEAD_THRESHOLD) -> np.ndarray:
    """True for units whose response is (numerically) zero for every class."""
    return np.asarray(class_means).max(axis=0) <= dead_threshold


def dead_on_data(rho: np.ndarray, fraction: float = DEAD_FRACTION) -> np.ndarray:
    """True for units of one layer whose rho is negligible against the layer's: rho <= ``fraction``
    of the layer's median rho, or not positive (method.md: such a unit is dead on the data).

    ``rho`` is the data maximum of the rectified objective of every unit of the layer.
    Non-finite values count as dead. A layer whose median rho is not positive (most units
    never respond) keeps only its units with a positive rho alive."""
    rho = np.asarray(rho, dtype=np.float64)
    finite = np.where(np.isfinite(rho), rho, 0.0)
    median = float(np.median(finite)) if finite.size else 0.0
    return (finite <= 0.0) | (finite <= fraction * max(median, 0.0))


def preferred_class(class_means: np.ndarray) -> np.ndarray:
    """Index of the class with the largest mean response, per unit."""
    return np.asarray(class_means).argmax(axis=0)
