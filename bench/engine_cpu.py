"""Engine throughput on the small default model on the CPU, against the naive loop.

    python bench/engine_cpu.py [--units 32] [--steps 30] [--save bench/results/engine_cpu.txt]

Uses the embedded trained default model (``generator.zoo.load("default")``) when its
checkpoint exists, otherwise ``small_fusion()`` with random weights (same shapes and
cost). Compares, in the same run, the naive reference (one unit per pass, full forward,
weight gradients) with the engine on a tower layer and on the fusion layer; also
reports FLOP/s, a float32 matmul ceiling and the bf16-vs-fp32 difference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from engine_common import compare, header, load_model  # type: ignore[import-not-found]

from generator.engine import EngineSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--naive-units", type=int, default=4)
    parser.add_argument("--precision-units", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--layers", nargs="*", default=None, help="default: motion/conv2_1 and the fusion layer"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    model, description, label = load_model()
    layers = args.layers or ["motion/conv2_1", next(l.name for l in description.layers if l.kind == "conv3d")]
    settings = EngineSettings(steps=args.steps)
    lines = [
        header(device),
        f"network: {label}, inputs "
        + ", ".join(f"{s.name} {s.channels}x{s.frames}x{s.height}x{s.width}" for s in description.inputs),
    ]
    print("\n".join(lines), flush=True)
    for layer in layers:
        part = compare(
            model,
            description,
            layer,
            units=args.units,
            naive_units=args.naive_units,
            precision_units=args.precision_units,
            settings=settings,
            device=device,
            matmul_n=1024,
        )
        print("\n".join(part), flush=True)
        lines += part
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
