"""The starting noise's generator: the reference SplitMix64, the same numbers whatever the batch,
dtype or device, and uniform numbers without structure between elements or rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from generator.engine.noise import input_uniforms, paper_noise, splitmix64, uniform_rows
from generator.engine.plan import Row, draw_initial_inputs, row_seed
from generator.zoo.spec import InputSpec

_U64 = (1 << 64) - 1


def _reference(seed: int, outputs: int) -> list[int]:
    """SplitMix64 as published (Steele, Lea and Flood 2014), in Python integers modulo 2**64."""
    values = []
    for j in range(outputs):
        z = (seed + (j + 1) * 0x9E3779B97F4A7C15) & _U64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
        values.append(z ^ (z >> 31))
    return values


def _seeds(*values: int, device: str = "cpu") -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64, device=device)


def test_splitmix64_gives_the_published_reference_outputs() -> None:
    # Seed 1234567: the reference sequence (Rosetta Code, "Pseudo-random numbers/Splitmix64").
    published = [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]
    out = splitmix64(_seeds(1234567), 0, 5)[0]
    assert [int(v) & _U64 for v in out] == published
    # Large seeds and offsets into the stream wrap modulo 2**64 exactly as the reference does.
    seeds = [0, 1, (1 << 63) - 1, 0x5DEECE66D, 987654321987654321]
    out = splitmix64(_seeds(*seeds), 1000, 40)
    for row, seed in zip(out, seeds):
        assert [int(v) & _U64 for v in row] == _reference(seed, 1040)[1000:]


def test_uniform_numbers_are_the_outputs_top_bits() -> None:
    seed = 424242
    u = uniform_rows(_seeds(seed), 3, 9)[0]
    ref = _reference(seed, 8)[3:]
    expected = [bits / 2**24 for z in ref for bits in (z >> 40, z & 0xFFFFFF)][:9]
    assert u.dtype == torch.float32 and u.tolist() == expected


def test_chunked_numbers_are_the_streams_numbers() -> None:
    """Long rows are computed in chunks on the CPU (3 rows of 50,001 outputs: 3 chunks)."""
    seeds = _seeds(5, 6, (1 << 63) - 5)
    z = splitmix64(seeds, 17, 50_001)
    top, bottom = ((z >> 40) & 0xFFFFFF, z & 0xFFFFFF)
    expected = torch.stack((top, bottom), dim=-1).view(3, -1)[:, :100_001].float() / 2**24
    assert torch.equal(uniform_rows(seeds, 17, 100_001), expected)


def test_a_rows_numbers_do_not_depend_on_its_batch() -> None:
    seeds = [row_seed("fusion/conv", Row(unit, 1.0, 0)) for unit in range(5)]
    alone = [uniform_rows(_seeds(s), 0, 1001)[0] for s in seeds]
    batch = uniform_rows(_seeds(*seeds), 0, 1001)
    shuffled = uniform_rows(_seeds(seeds[3], seeds[0], seeds[3]), 0, 1001)
    assert all(torch.equal(batch[i], alone[i]) for i in range(5))
    assert torch.equal(shuffled[0], alone[3]) and torch.equal(shuffled[1], alone[0])
    assert torch.equal(shuffled[2], alone[3])


def test_float64_numbers_are_the_float32_numbers() -> None:
    seeds = _seeds(7, 8, 9)
    single = uniform_rows(seeds, 0, 777)
    double = uniform_rows(seeds, 0, 777, torch.float64)
    assert double.dtype == torch.float64 and torch.equal(double, single.double())
    with pytest.raises(ValueError, match="float32 or float64"):
        uniform_rows(seeds, 0, 10, torch.bfloat16)


def test_inputs_take_consecutive_parts_of_the_rows_stream() -> None:
    seeds = _seeds(11, 12)
    first, second = input_uniforms(seeds, [(3, 1, 2, 5), (2, 1, 1, 3)])  # 30 and 6 numbers
    assert first.shape == (2, 3, 1, 2, 5) and second.shape == (2, 2, 1, 1, 3)
    assert torch.equal(first.flatten(1), uniform_rows(seeds, 0, 30))
    assert torch.equal(second.flatten(1), uniform_rows(seeds, 15, 6))


def _ks(sample: np.ndarray) -> np.ndarray:
    """The Kolmogorov-Smirnov distance of each row of ``sample`` to the uniform distribution,
    times sqrt(n) (so that it follows the Kolmogorov distribution for uniform rows)."""
    n = sample.shape[-1]
    ordered = np.sort(sample, axis=-1)
    ecdf = np.arange(1, n + 1) / n
    return np.max(np.maximum(ecdf - ordered, ordered - (ecdf - 1 / n)), axis=-1) * math.sqrt(n)


def test_numbers_are_uniform_and_unrelated_between_neighbours() -> None:
    """Mean, variance, Kolmogorov-Smirnov distances and correlations between neighbouring
    elements and between rows of neighbouring seeds: small consecutive integers, and the
    engine's seeds of neighbouring units. One row in a hundred exceeds the KS test's 1 %
    critical value by chance (seed 1 does), so the test checks that the rows' distances
    follow the Kolmogorov distribution (mean sqrt(pi / 2) ln 2) and the pooled rows' distance."""
    n = 1 << 14
    for seeds in (list(range(1, 33)), [row_seed("class", Row(u, 1.0, 0)) for u in range(32)]):
        u = uniform_rows(_seeds(*seeds), 0, n).double().numpy()
        tolerance = 4.0 / math.sqrt(n)  # about 4 standard errors of a correlation or mean (sd 0.29)
        assert np.all(np.abs(u.mean(axis=1) - 0.5) < tolerance * 0.29)
        assert np.all(np.abs(u.var(axis=1) - 1 / 12) < tolerance * 0.075)  # sd of u**2: 0.30
        assert abs(_ks(u).mean() - math.sqrt(math.pi / 2) * math.log(2)) < 4 * 0.26 / math.sqrt(len(u))
        assert _ks(u.ravel()) < 1.63  # the KS test's 1 % critical value for all numbers together
        for row in u:
            assert abs(np.corrcoef(row[:-1], row[1:])[0, 1]) < tolerance
        for a, b in zip(u, u[1:]):
            assert abs(np.corrcoef(a, b)[0, 1]) < tolerance
        # Repeats among 2**24 values as many as chance makes (the birthday count, about 8,200
        # with sd 90): rows that shared or overlapped streams would repeat far more.
        values = 2.0**24
        expected = values * (1 - math.exp(-u.size / values))
        assert abs(np.unique(u).size - expected) < 4 * math.sqrt(u.size - expected)


def test_paper_noise_has_the_papers_percentile() -> None:
    uniform = uniform_rows(_seeds(0, 1, 2), 0, 400).view(3, 1, 1, 20, 20)
    x = paper_noise(uniform, 80.0)
    for row in x:
        assert torch.quantile(row.abs().flatten(), 0.95).item() == pytest.approx(80 / math.sqrt(3), rel=0.01)
        assert row.abs().max() <= 80 / math.sqrt(3) / 0.9


def test_starting_noise_is_the_rows_own_and_rescaled_per_row() -> None:
    """Each row's noise is its seed's uniforms rescaled alone, whatever batch it is in: bit for
    bit the per-row computation (kthvalue, reciprocal times B / sqrt(3))."""
    specs = (InputSpec("a", "rgb", 3, 1, 9, 9, (0.0, 0.0, 0.0)), InputSpec("m", "flow", 4, 1, 9, 9))
    rows = [Row(0, 1.0, 0), Row(1, 1.0, 0), Row(0, 5.0, 0), Row(0, 1.0, 1)]
    batch = draw_initial_inputs("motion/conv", rows, specs, 80.0, "cpu")
    for b, row in enumerate(rows):
        uniforms = input_uniforms(_seeds(row_seed("motion/conv", row)), [s.shape for s in specs])
        for x, u in zip(batch, uniforms):
            noise = u[0] * 2.0 - 1.0
            flat = noise.abs().flatten()
            pct = flat.kthvalue(math.ceil(0.95 * flat.numel())).values.clamp_min(1e-12)
            assert torch.equal(x[b], noise * (80.0 / math.sqrt(3.0) / pct))
    assert torch.equal(batch[1][0], batch[1][2])  # chi is not part of the seed
    assert not torch.equal(batch[1][0], batch[1][1]) and not torch.equal(batch[1][0], batch[1][3])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_numbers_and_starting_noise_are_the_same_on_cuda() -> None:
    seeds = [row_seed("motion/conv", Row(u, 1.0, s)) for u, s in ((0, 0), (511, 3), (7, 1))]
    assert torch.equal(
        uniform_rows(_seeds(*seeds), 0, 100_001),
        uniform_rows(_seeds(*seeds, device="cuda"), 0, 100_001).cpu(),
    )
    specs = (InputSpec("a", "rgb", 3, 1, 32, 32, (0.0, 0.0, 0.0)), InputSpec("m", "flow", 10, 1, 32, 32))
    rows = [Row(0, 1.0, 0), Row(1, 1.0, 3)]
    cpu = draw_initial_inputs("motion/conv", rows, specs, 80.0, "cpu")
    cuda = draw_initial_inputs("motion/conv", rows, specs, 80.0, "cuda")
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, cuda))
