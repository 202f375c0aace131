"""Class selectivity (Morcos et al., ICLR 2018) of units from their class-conditional means.

SI = (mu_max - mu_rest) / (mu_max + mu_rest), where mu_c is the class-conditional mean of a
unit's spatially averaged post-ReLU response on held-out clips, mu_max = max_c mu_c and
mu_rest is the mean of mu_c over the other classes. SI lies in [0, 1]: 0 when every class
drives the unit equally, 1 when only one class does. A unit that never responds (all
mu_c below ``dead_threshold``) is dead and its SI is undefined (NaN).
"""

from __future__ import annotations

import numpy as np

DEAD_THRESHOLD = 1e-6


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


def preferred_class(class_means: np.ndarray) -> np.ndarray:
    """Index of the class with the largest mean response, per unit."""
    return np.asarray(class_means).argmax(axis=0)
