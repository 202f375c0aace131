"""FLOPs per training clip of the paper's fusion network (fusion_vgg16) in each recipe stage, counted by
torch.utils.flop_counter on the meta device, and the projected GPU-hours for UCF101 split 1.

    python bench/train_flops.py [--save bench/results/train_flops.txt] [--measure --batch 16]

With --measure on a CUDA machine it also times training steps of each stage (bf16 autocast, SGD,
random ImageNet-free weights, batch --batch) and reports the measured clips/s and fraction of peak.

A training clip is T = 5 snippets of one 224x224 RGB frame and a 20-channel flow stack; a step of
a stage is the forward and backward pass of what that stage trains (appearance tower + head; motion
tower + motion head; or the fusion conv + head, with the towers forward only). The projection takes
the recipe's default epochs (generator.config.RecipeConfig) over UCF101 split 1's 9,537 training
clips, on one H200 at 40 % of its dense bf16 peak (989 TFLOPS, NVIDIA's H200 SXM data sheet; the
1,979 TFLOPS on that sheet is with 2:4 sparsity), and counts one multiply-add as 2 FLOPs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from engine_common import emit, header  # type: ignore[import-not-found]
from torch.utils.flop_counter import FlopCounterMode

from generator.config import RecipeConfig
from generator.training.recipe import STAGES, set_trainable, stage_scores
from generator.zoo.fusion import fusion_vgg16

UCF101_SPLIT1_TRAIN = 9537  # trainlist01.txt of the UCF101 release
H200_BF16_DENSE_TFLOPS = 989.0
UTILISATION = 0.40


def stage_flops(stage: str, snippets: int, classes: int = 101) -> int:
    """FLOPs of one training clip (forward + backward) in ``stage``."""
    with torch.device("meta"):
        model = fusion_vgg16(num_classes=classes, tower_weights="random")
        appearance = torch.empty(1, 3, snippets, 224, 224)
        motion = torch.empty(1, 20, snippets, 224, 224)
    set_trainable(model, STAGES[stage])
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        stage_scores(model, STAGES[stage], appearance, motion).sum().backward()
    return counter.get_total_flops()


def measured_rate(stage: str, snippets: int, batch: int, steps: int = 10) -> float:
    """Clips per second of training steps of ``stage`` on CUDA under bf16 autocast."""
    device = torch.device("cuda")
    model = fusion_vgg16(num_classes=101, tower_weights="random").to(device)
    set_trainable(model, STAGES[stage])
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    appearance = torch.randn(batch, 3, snippets, 224, 224, device=device) * 50
    motion = torch.randn(batch, 20, snippets, 224, 224, device=device) * 10
    labels = torch.randint(0, 101, (batch,), device=device)
    for i in range(steps + 3):  # three warm-up steps
        if i == 3:
            torch.cuda.synchronize()
            start = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            scores = stage_scores(model, STAGES[stage], appearance, motion)
        torch.nn.functional.cross_entropy(scores.float(), labels).backward()
        optimiser.step()
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--measure", action="store_true", help="time training steps on CUDA too")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    recipe = RecipeConfig()
    peak = H200_BF16_DENSE_TFLOPS * 1e12 * UTILISATION
    lines = [
        header(torch.device("cpu")),
        f"fusion_vgg16, T = {recipe.snippets} snippets of 224x224, L = 10 flow fields, 101 classes; "
        f"UCF101 split 1: {UCF101_SPLIT1_TRAIN} training clips",
        f"H200 dense bf16 peak {H200_BF16_DENSE_TFLOPS:.0f} TFLOPS x {UTILISATION:.0%} = {peak / 1e12:.0f} TFLOPS",
    ]
    total_hours = 0.0
    for stage in recipe.stages:
        flops = stage_flops(stage, recipe.snippets)
        epochs = getattr(recipe, stage).epochs
        hours = flops * UCF101_SPLIT1_TRAIN * epochs / peak / 3600
        total_hours += hours
        lines.append(
            f"{stage}: {flops / 1e9:.0f} GFLOPs per training clip (forward + backward); {epochs} epochs "
            f"-> {hours:.2f} GPU-hours; {peak / flops:.0f} clips/s at 40 % of peak"
        )
        if args.measure and torch.cuda.is_available():
            rate = measured_rate(stage, recipe.snippets, args.batch)
            achieved = rate * flops / (H200_BF16_DENSE_TFLOPS * 1e12)
            lines.append(
                f"  measured on {torch.cuda.get_device_name()}: {rate:.0f} clips/s at batch {args.batch} "
                f"({achieved:.0%} of the H200 dense bf16 peak)"
            )
    lines.append(f"total: {total_hours:.2f} GPU-hours on one H200 for the recipe's {recipe.stages} stages")
    emit(lines, args.save)


if __name__ == "__main__":
    main()
