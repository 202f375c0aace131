"""Engine throughput on the paper's VGG-16 fusion network (random weights) against a naive loop.

    python bench/engine_gpu.py                 # 224x224, L = 10, fusion-layer units, on CUDA
    python bench/engine_gpu.py --smoke         # a tiny size that runs anywhere (CPU check)

Reports unit-iterations/s of the naive reference (one unit per pass, float32, full
forward, weight gradients computed) and of the engine (batched rows, forward cut at the
layer, input gradients only, bf16 + channels_last on CUDA) in the same run, the FLOP/s
each achieves (torch.utils.flop_counter), the fraction of a measured large-matmul
ceiling, and how far bf16 results are from float32 ones on the same units and seeds.
"""

from __future__ import annotations

import argparse

import torch

from engine_common import compare, header  # type: ignore[import-not-found]
from generator.engine import EngineSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny network and few steps (CPU check)")
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if available)")
    parser.add_argument("--layer", default="fusion/conv5_fusion")
    parser.add_argument("--units", type=int, default=128, help="rows for the engine")
    parser.add_argument("--naive-units", type=int, default=4)
    parser.add_argument("--precision-units", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size, fields, matmul_n = 224, 10, 8192
    if args.smoke:
        size, fields, matmul_n = 32, 2, 512
        args.units, args.naive_units, args.precision_units, args.steps = 4, 2, 2, 3
    from generator.zoo import fusion_vgg16  # lazily: the zoo is only needed here

    torch.manual_seed(0)
    model = fusion_vgg16(num_classes=101, flow_fields=fields, image_size=size, tower_weights="random")
    description = model.describe()
    settings = EngineSettings(steps=args.steps, batch_size=args.batch_size, compile=args.compile)
    print(header(device))
    print(f"network: fusion_vgg16 (random weights), {size}x{size}, L = {fields} flow fields")
    lines = compare(
        model,
        description,
        args.layer,
        units=args.units,
        naive_units=args.naive_units,
        precision_units=args.precision_units,
        settings=settings,
        device=device,
        matmul_n=matmul_n,
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
