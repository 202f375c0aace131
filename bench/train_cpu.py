"""Training throughput of the small fusion network on the CPU, per recipe stage, in clips per second.

    python bench/train_cpu.py [--steps 20] [--batch 32] [--save bench/results/train_cpu.txt]

The network is the default architecture (towers of 8/16/32/32 channels at 64x64, L = 4 flow fields,
T = 3 snippets, twelve classes); a step is the forward and backward pass and the SGD update of what the
stage trains (generator.training.recipe), on inputs of the recipe's draws' shape. The draw itself
(reading a cached clip, crop, resize, flip) is timed apart on the same shapes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from engine_common import emit, header  # type: ignore[import-not-found]
from torch import nn

from generator.training.data import augment, choose_crop
from generator.training.recipe import STAGES, set_trainable, stage_scores, trained_parameters
from generator.zoo.fusion import small_fusion


def stage_rate(stage: str, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    model = small_fusion()
    set_trainable(model, STAGES[stage])
    optimiser = torch.optim.SGD(trained_parameters(model, STAGES[stage]), lr=1e-3, momentum=0.9)
    appearance, motion = torch.randn(batch, 3, 3, 64, 64) * 50, torch.randn(batch, 8, 3, 64, 64) * 10
    labels = torch.randint(0, 12, (batch,))
    model.train()
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            start = time.perf_counter()
        optimiser.zero_grad()
        nn.functional.cross_entropy(stage_scores(model, STAGES[stage], appearance, motion), labels).backward()
        optimiser.step()
    return steps * batch / (time.perf_counter() - start)


def draw_rate(draws: int) -> float:
    """Clips per second of the augmentation (crop at 73 px stored side, resize to 64, flip) alone."""
    rng = np.random.default_rng(0)
    rgb, flow = torch.randn(3, 3, 73, 73), torch.randn(8, 3, 73, 73)
    start = time.perf_counter()
    for _ in range(draws):
        crop = choose_crop(rng, 73, (1.0, 0.875, 0.75, 0.66))
        augment(rgb, crop, 64, flow=False)
        augment(flow, crop, 64, flow=True)
    return draws / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    lines = [
        header(torch.device("cpu")),
        f"small_fusion (default architecture), batch {args.batch}, T = 3, 64x64, L = 4; {args.steps} steps "
        "per stage after 2 warm-up steps",
    ]
    for stage in STAGES:
        lines.append(f"{stage}: {stage_rate(stage, args.steps, args.batch):.0f} clips/s")
    lines.append(f"augmentation alone: {draw_rate(500):.0f} clips/s")
    emit(lines, args.save)


if __name__ == "__main__":
    main()
