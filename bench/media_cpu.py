"""Media writer throughput on the CPU: one visualization's media set at the default 2x upscaling
against the earlier 4x, measured in the same run.

    python bench/media_cpu.py [--sets 24] [--save bench/results/media_cpu.txt]

A media set is what the atlas writes per (unit, chi, seed): appearance, colour-wheel,
x/y/magnitude and composite MP4s plus a PNG poster of each, through imageio-ffmpeg's
ffmpeg. Inputs are smooth random fields shaped like the default model's
(appearance 3x1x64x64, motion 8x1x64x64), the same for both factors; the two factors
alternate set by set so that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from engine_common import emit, header  # type: ignore[import-not-found]

from generator.media import write_media_set


def smooth_inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Visualization-like inputs: noise low-passed to blobs, in network units."""

    def field(channels: int, scale: float) -> np.ndarray:
        coarse = rng.normal(0.0, scale, size=(channels, 1, 8, 8))
        return np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3).astype(np.float32)

    return field(3, 30.0), field(8, 20.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=24)
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    inputs = [smooth_inputs(rng) for _ in range(args.sets)]
    seconds = {4: 0.0, 2: 0.0}
    sizes = {4: 0, 2: 0}
    with tempfile.TemporaryDirectory() as tmp:
        write_media_set(
            Path(tmp) / "warm", "w", appearance=inputs[0][0], motion=inputs[0][1]
        )  # ffmpeg in cache
        for i, (appearance, motion) in enumerate(inputs):
            for factor in (4, 2) if i % 2 else (2, 4):
                folder = Path(tmp) / f"x{factor}"
                start = time.perf_counter()
                paths = write_media_set(
                    folder, f"set{i}", appearance=appearance, motion=motion, factor=factor
                )
                seconds[factor] += time.perf_counter() - start
                sizes[factor] += sum((folder / Path(p).name).stat().st_size for p in paths.values())
    lines = [
        header(torch.device("cpu")),
        f"media sets: {args.sets} per factor, inputs 3x1x64x64 + 8x1x64x64 (4 MP4s + 4 PNGs each)",
    ]
    for factor in (4, 2):
        lines.append(
            f"factor {factor} ({64 * factor} px): {1e3 * seconds[factor] / args.sets:.0f} ms per set, "
            f"{sizes[factor] / args.sets / 1024:.0f} KiB per set"
        )
    lines.append(f"speed-up of 2x over 4x: {seconds[4] / seconds[2]:.2f}x")
    emit(lines, args.save)


if __name__ == "__main__":
    main()
