"""The paper's starting noise, drawn and scaled where the rows live, the same on every device.

method.md: uniform noise in [-1, 1], rescaled so that its 95th percentile is B / sqrt(3).

The uniform numbers come from a counter-based generator, SplitMix64 (Steele, Lea and Flood,
2014: the generator of Java's ``SplittableRandom``): output j of a row with seed s is a fixed
bijective mix of s + (j + 1) * gamma modulo 2**64. It is written in plain torch int64
operations, so it runs on whatever device holds the batch, for all rows at once, with no host
loop and no generator state. Every operation is integer arithmetic modulo 2**64 (int64
addition and multiplication wrap in two's complement on the CPU and on CUDA alike; logical
shifts are arithmetic shifts followed by a mask), and each 64-bit output gives two floats of
24 random bits (k / 2**24, exact in float32), so every device gives the same numbers bit for
bit. A row's numbers depend on its own seed alone, never on its neighbours in the batch.

The percentile is exact (``kthvalue``) and the rescaling is one correctly rounded float32
reciprocal and product, so the scaled noise is the same on every device too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

INIT_PERCENTILE = 0.95

_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment (odd; the golden ratio times 2**64)
_MIX1 = 0xBF58476D1CE4E5B9  # the multipliers of its finaliser (Stafford's "Mix13")
_MIX2 = 0x94D049BB133111EB
_FLOAT_BITS = 24  # float32's significand: k / 2**24 is exact
_MAX_OUTPUTS = 1 << 62  # counters stay far from wrapping onto another row's stream


def _int64(value: int) -> int:
    """The two's-complement int64 with the same low 64 bits as ``value``."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(z: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic on int64)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(seeds: Tensor, start: int, count: int) -> Tensor:
    """Outputs ``start`` .. ``start + count - 1`` of each seed's SplitMix64 stream (B, count), as
    int64 bit patterns, on ``seeds``' device. ``seeds``: (B,) int64."""
    if seeds.dtype != torch.int64 or seeds.ndim != 1:
        raise ValueError(f"seeds must be a 1-d int64 tensor, got {seeds.dtype} of shape {tuple(seeds.shape)}")
    if start < 0 or count < 0 or start + count > _MAX_OUTPUTS:
        raise ValueError(f"outputs {start} .. {start + count} lie outside the stream [0, 2**62)")
    counters = torch.arange(start + 1, start + count + 1, dtype=torch.int64, device=seeds.device)
    z = seeds[:, None] + counters * _int64(_GAMMA)
    # z is this function's own tensor from here on, so the mix runs in place.
    z ^= _shift_right(z, 30)
    z *= _int64(_MIX1)
    z ^= _shift_right(z, 27)
    z *= _int64(_MIX2)
    z ^= _shift_right(z, 31)
    return z


def uniform_rows(seeds: Tensor, start: int, numel: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``numel`` uniform numbers in [0, 1) per seed (B, numel), multiples of 2**-24, from the
    seed's stream from output ``start`` on: element 2j is the top 24 bits of output
    ``start + j``, element 2j + 1 the 24 bits below its top 32."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"uniform numbers of 24 bits need float32 or float64, got {dtype}")
    z = splitmix64(seeds, start, (numel + 1) // 2)
    mask = (1 << _FLOAT_BITS) - 1
    pairs = torch.stack((_shift_right(z, 64 - _FLOAT_BITS), (z >> 8) & mask), dim=-1)
    return pairs.view(len(seeds), -1)[:, :numel].to(dtype) * 2.0**-_FLOAT_BITS


def input_uniforms(
    seeds: Tensor, shapes: Sequence[Sequence[int]], dtype: torch.dtype = torch.float32
) -> list[Tensor]:
    """Per input shape, the rows' uniform numbers (B, *shape): the inputs lie end to end in each
    row's stream, each starting on a fresh output, so every input has numbers of its own."""
    out = []
    start = 0
    for shape in shapes:
        numel = math.prod(shape)
        out.append(uniform_rows(seeds, start, numel, dtype).view(len(seeds), *shape))
        start += (numel + 1) // 2
    return out


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
