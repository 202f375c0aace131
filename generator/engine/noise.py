"""The paper's starting noise, drawn and scaled where the rows live, the same on every device.

method.md: uniform noise in [-1, 1], rescaled so that its 95th percentile is B / sqrt(3).

The uniform numbers come from a counter-based generator, SplitMix64 (Steele, Lea and Flood,
2014: the generator of Java's ``SplittableRandom``): output j of a row with seed s is a fixed
bijective mix of s + (j + 1) * gamma modulo 2**64. It is written in plain torch int64
operations, so it runs on whatever device holds the batch, for all rows at once, with no host
loop over rows and no generator state. Every operation is integer arithmetic modulo 2**64
(int64 addition and multiplication wrap in two's complement on the CPU and on CUDA alike;
logical shifts are arithmetic shifts followed by a mask), and each 64-bit output gives two
floats, its top and its bottom 24 bits as k / 2**24 (exact in float32), so every device
gives the same numbers bit for bit. A row's numbers depend on its own seed alone, never on
its neighbours in the batch. On the CPU the outputs are computed in cache-sized chunks; the
numbers do not depend on the chunking.

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


def _chunk_outputs(device: torch.device, rows: int) -> int:
    """Outputs per row computed at once. On the CPU a chunk holds 2**16 outputs of all rows,
    so that its int64 temporaries (512 KiB) stay in the cache: about twice as fast as over a
    whole large batch. On an accelerator a chunk is large (512 MiB), only to bound the memory
    of very large batches. The numbers do not depend on the chunking."""
    elements = 1 << 16 if device.type == "cpu" else 1 << 26
    return max(1, elements // max(1, rows))


def _steps(count: int, device: torch.device) -> Tensor:
    """(j + 1) * gamma modulo 2**64 for j < count: the stream's positions after its seed."""
    return torch.arange(1, count + 1, dtype=torch.int64, device=device) * _int64(_GAMMA)


def _outputs(seeds: Tensor, start: int, steps: Tensor) -> Tensor:
    """SplitMix64 outputs ``start`` .. ``start + len(steps) - 1`` of each seed (B, len(steps)):
    its finaliser applied to seed + (start + j + 1) * gamma. The temporaries are this
    function's own, so the mix runs in place; torch's ``>>`` is arithmetic on int64, so each
    shift is masked to a logical one."""
    z = steps + (seeds + _int64(start * _GAMMA))[:, None]
    shifted = torch.empty_like(z)
    for bits, factor in ((30, _MIX1), (27, _MIX2), (31, None)):
        torch.bitwise_right_shift(z, bits, out=shifted)
        shifted &= (1 << (64 - bits)) - 1
        z ^= shifted
        if factor is not None:
            z *= _int64(factor)
    return z


def _check_stream(seeds: Tensor, start: int, count: int) -> None:
    if seeds.dtype != torch.int64 or seeds.ndim != 1:
        raise ValueError(f"seeds must be a 1-d int64 tensor, got {seeds.dtype} of shape {tuple(seeds.shape)}")
    if start < 0 or count < 0 or start + count > _MAX_OUTPUTS:
        raise ValueError(f"outputs {start} .. {start + count} lie outside the stream [0, 2**62)")


def splitmix64(seeds: Tensor, start: int, count: int) -> Tensor:
    """Outputs ``start`` .. ``start + count - 1`` of each seed's SplitMix64 stream (B, count), as
    int64 bit patterns, on ``seeds``' device. ``seeds``: (B,) int64."""
    _check_stream(seeds, start, count)
    return _outputs(seeds, start, _steps(count, seeds.device))


def _uniform_pairs(seeds: Tensor, start: int, outputs: int, dtype: torch.dtype) -> Tensor:
    """(B, outputs, 2): the top and the bottom 24 bits of outputs ``start`` .. ``start +
    outputs - 1`` of each seed's stream, as k / 2**24."""
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"uniform numbers of 24 bits need float32 or float64, got {dtype}")
    _check_stream(seeds, start, outputs)
    rows = len(seeds)
    pairs = torch.empty(rows, outputs, 2, dtype=dtype, device=seeds.device)
    chunk = max(1, min(outputs, _chunk_outputs(seeds.device, rows)))
    steps = _steps(chunk, seeds.device)
    mask = (1 << _FLOAT_BITS) - 1
    for first in range(0, outputs, chunk):
        count = min(chunk, outputs - first)
        z = _outputs(seeds, start + first, steps[:count])
        top = z >> (64 - _FLOAT_BITS)
        top &= mask
        pairs[:, first : first + count, 0] = top
        z &= mask
        pairs[:, first : first + count, 1] = z
    # The integers are below 2**24, so the conversion and the power-of-two scale are exact.
    pairs *= 2.0**-_FLOAT_BITS
    return pairs


def uniform_rows(seeds: Tensor, start: int, numel: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``numel`` uniform numbers in [0, 1) per seed (B, numel), multiples of 2**-24, from the
    seed's stream from output ``start`` on: element 2j is the top 24 bits of output
    ``start + j``, element 2j + 1 its bottom 24 bits."""
    return _uniform_pairs(seeds, start, (numel + 1) // 2, dtype).view(len(seeds), -1)[:, :numel]


def input_uniforms(
    seeds: Tensor, shapes: Sequence[Sequence[int]], dtype: torch.dtype = torch.float32
) -> list[Tensor]:
    """Per input shape, the rows' uniform numbers (B, *shape): the inputs lie end to end in each
    row's stream, each starting on a fresh output, so every input has numbers of its own.
    All inputs are drawn together (fewer, larger operations), then viewed apart."""
    sizes = [math.prod(shape) for shape in shapes]
    starts = [0]
    for numel in sizes:
        starts.append(starts[-1] + (numel + 1) // 2)
    pairs = _uniform_pairs(seeds, 0, starts[-1], dtype)
    rows = len(seeds)
    return [
        pairs[:, first:last].reshape(rows, -1)[:, :numel].view(rows, *shape)
        for first, last, numel, shape in zip(starts, starts[1:], sizes, shapes)
    ]


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
