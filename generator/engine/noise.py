"""The paper's starting noise: uniform numbers from each row's CPU generator, scaled on the device.

method.md: uniform noise in [-1, 1], rescaled so that its 95th percentile is B / sqrt(3).
The uniform numbers come from the row's own ``torch.Generator`` on the CPU (Mersenne
Twister: cheap, and the same numbers whatever device runs the row). The expensive part,
the percentile (an order statistic over ~1.15 M values per row for VGG-16 fusion inputs at
224 with L = 10), runs on the device for the whole batch at once, no longer serially on
the host. It is exact (``kthvalue``) and the rescaling is one correctly rounded float32
reciprocal and product, so every device gives the values the CPU gives, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

INIT_PERCENTILE = 0.95


def uniform_draw(shape: Sequence[int], generator: torch.Generator) -> Tensor:
    """The raw uniform [0, 1) numbers of one input of one row (CPU, float32)."""
    return torch.rand(tuple(shape), generator=generator, dtype=torch.float32)


def paper_noise(uniform: Tensor, bound: float) -> Tensor:
    """Noise of the paper's scale from raw uniforms, per row of ``uniform`` (B, ...).

    Each row becomes u * 2 - 1, rescaled so that the 95th percentile of its |x| is
    B / sqrt(3). *(choice)* the percentile is taken of the absolute values of the whole
    sample, so that it is a statement about magnitude whatever the sign. Runs where
    ``uniform`` lives; nothing is read back to the host.
    """
    noise = uniform * 2.0 - 1.0
    flat = noise.abs().flatten(1)
    k = max(1, math.ceil(INIT_PERCENTILE * flat.shape[1]))
    pct = flat.kthvalue(k, dim=1).values.clamp_min(1e-12)
    factor = (bound / math.sqrt(3.0)) / pct
    return noise * factor.view(-1, *([1] * (noise.ndim - 1)))
