"""Starting-noise draw on the CPU: the counter-based draw for a whole batch against the earlier
per-row host draw (a seeded ``torch.Generator`` per row), measured in the same run.

    python bench/noise_cpu.py [--repeats 7] [--save bench/results/noise_cpu.txt]

Both draw the raw uniform numbers of every input of every row of one batch: the earlier
draw ran ``torch.rand`` row after row with each row's own generator and stacked the rows;
the counter-based draw (:func:`generator.engine.noise.input_uniforms`) makes all rows at
once. The rescaling to the paper's percentile that follows is the same code for both and is
timed separately. Shapes: the default model's inputs (3x1x64x64 + 8x1x64x64) and VGG-16
fusion's at 224 with L = 10 (3x1x224x224 + 20x1x224x224). The two draws alternate
repeat by repeat so that machine noise hits both alike; the median of the repeats is shown,
in wall time and in CPU time (the process's, all threads), with one torch thread and with
torch's default. The earlier draw ran ``torch.rand`` in one thread whatever the setting; the
counter draw is a sequence of many short element-wise operations, which on a busy machine
with more than one thread lose time waiting for each other.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from engine_common import emit, header  # type: ignore[import-not-found]

from generator.engine.noise import input_uniforms, paper_noise
from generator.engine.plan import Row, row_seed

CASES = {
    "default model (45,056 values per row)": ([(3, 1, 64, 64), (8, 1, 64, 64)], (1, 16)),
    "fusion_vgg16 at 224, L = 10 (1,153,936 values per row)": (
        [(3, 1, 224, 224), (20, 1, 224, 224)],
        (1, 16),
    ),
}


def host_draw(seeds: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """The earlier draw: each row's generator on the host, row after row, then stacked."""
    per_row = []
    for seed in seeds:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        per_row.append([torch.rand(shape, generator=generator) for shape in shapes])
    return [torch.stack([row[i] for row in per_row]) for i in range(len(shapes))]


def counter_draw(seeds: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    return input_uniforms(torch.tensor(seeds, dtype=torch.int64), shapes)


def rescale(uniforms: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [paper_noise(u, 80.0) for u in uniforms]


def median_seconds(draws: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Per draw, the median (wall, CPU) seconds of ``repeats`` runs."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in draws}
    for r in range(repeats):
        for name in draws if r % 2 else reversed(list(draws)):
            wall, cpu = time.perf_counter(), time.process_time()
            draws[name]()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
        for name, t in times.items()
    }


def measure(threads: int, repeats: int) -> list[str]:
    torch.set_num_threads(threads)
    lines = [f"torch threads: {threads}"]
    for label, (shapes, batches) in CASES.items():
        lines.append(f" {label}")
        for rows in batches:
            seeds = [row_seed("bench/layer", Row(unit, 1.0, 0)) for unit in range(rows)]
            uniforms = counter_draw(seeds, shapes)
            seconds = median_seconds(
                {
                    "host": functools.partial(host_draw, seeds, shapes),
                    "counter": functools.partial(counter_draw, seeds, shapes),
                    "rescale": functools.partial(rescale, uniforms),
                },
                repeats,
            )
            for clock, k in (("wall", 0), ("CPU", 1)):
                ms = {name: 1e3 * s[k] / rows for name, s in seconds.items()}
                lines.append(
                    f"  {rows:>2} rows, {clock:>4} time: host draw {ms['host']:.2f} ms/row, counter draw "
                    f"{ms['counter']:.2f} ms/row, ratio counter/host {ms['counter'] / ms['host']:.2f} "
                    f"(the rescaling after either: {ms['rescale']:.2f} ms/row)"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()

    default_threads = torch.get_num_threads()
    lines = [header(torch.device("cpu")), f"median of {args.repeats} repeats"]
    for threads in sorted({1, default_threads}):
        lines += measure(threads, args.repeats)
    emit(lines, args.save)


if __name__ == "__main__":
    main()
