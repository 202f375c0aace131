"""The paper atlas's cost on paper: FLOPs per unit-step of every fusion_vgg16 layer, in GPU-hours.

    python bench/projection.py [--save bench/results/projection_fusion_vgg16.txt]

Counts, with ``torch.utils.flop_counter.FlopCounterMode`` on shape-only (meta) tensors, the
FLOPs of one optimisation step of one row for every layer of the paper's network
(VGG-16 towers, 224 x 224, L = 10 flow fields): the engine's step (forward cut at the layer,
gradient with respect to the inputs only) and, for comparison, the same step through the
whole network (the saving of the truncated forward). The paper atlas visualizes every unit
of every layer at 3 chi values for 300 steps from one seed; rows that differ only in chi
share the network when the layer sees no input with a time axis (the appearance tower's
single frame), so those layers run the network once per 3 rows. The total is converted to
GPU-hours at 40 % and 60 % of an H200's dense bf16 peak.

Only convolutions and matrix products are counted (what the counter knows); the
regularisers and the update are element-wise, a few passes over the inputs per step, and
are left out, as are host overheads: the figures are a lower bound on time.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator.engine.objectives import unit_objective  # noqa: E402
from generator.engine.truncate import TruncatedNetwork  # noqa: E402
from generator.zoo.spec import ModelDescription  # noqa: E402

# NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200/, H200 SXM column):
# "BFLOAT16 Tensor Core 1,979 TFLOPS", a figure "with sparsity"; dense is half of it.
H200_BF16_DENSE_TFLOPS = 1979.0 / 2
PEAK_SOURCE = (
    "NVIDIA H200 datasheet, H200 SXM: BFLOAT16 Tensor Core 1,979 TFLOPS with sparsity, "
    "989.5 TFLOP/s dense (used here)"
)
PAPER_CHIS = 3
PAPER_STEPS = 300


@dataclass(frozen=True)
class LayerCost:
    name: str
    units: int
    shares_across_chi: bool  # the network runs once per unit for all chi values
    truncated: float  # FLOPs of one engine step of one row
    whole: float  # FLOPs of the same step through the whole network

    @property
    def network_rows(self) -> int:
        """Rows the network runs for this layer in the paper atlas (per step)."""
        return self.units * (1 if self.shares_across_chi else PAPER_CHIS)

    @property
    def atlas_flops(self) -> float:
        return self.truncated * self.network_rows * PAPER_STEPS


def step_flops(model: nn.Module, description: ModelDescription, layer: str, truncated: bool) -> float:
    """FLOPs of one row's step at ``layer``: forward (cut there or whole), input gradient only."""
    info = description.layer(layer)
    xs = [torch.zeros((1, *s.shape), device="meta", requires_grad=True) for s in description.inputs]
    objective = unit_objective(info, "centre", torch.zeros(1, dtype=torch.long, device="meta"))
    network = TruncatedNetwork(model, info.module)
    with FlopCounterMode(display=False) as counter:
        if truncated:
            response = network(*xs)
        else:
            captured: list[torch.Tensor] = []
            handle = network.target.register_forward_hook(lambda m, a, out: captured.append(out))
            try:
                model(*xs)
            finally:
                handle.remove()
            response = captured[0]
        # .backward() rather than autograd.grad (which the counter's hooks do not support);
        # the parameters are frozen, so only the input gradients are computed either way.
        objective(response, 0.0).sum().backward()
    return float(counter.get_total_flops())


def layer_costs(model: nn.Module, description: ModelDescription) -> list[LayerCost]:
    temporal = {spec.name for spec in description.inputs if spec.temporal}
    costs = []
    for info in description.layers:
        sees = set(info.streams) or {spec.name for spec in description.inputs}
        costs.append(
            LayerCost(
                info.name,
                info.units,
                not (sees & temporal),
                step_flops(model, description, info.name, truncated=True),
                step_flops(model, description, info.name, truncated=False),
            )
        )
    return costs


def report(costs: list[LayerCost]) -> list[str]:
    lines = [
        f"{'layer':<22}{'units':>6}  {'GFLOP/unit-step':>15}  {'whole net':>9}  {'saving':>6}  {'rows/unit':>9}  "
        f"{'atlas PFLOP':>11}"
    ]
    for c in costs:
        lines.append(
            f"{c.name:<22}{c.units:>6}  {c.truncated / 1e9:>15.2f}  {c.whole / 1e9:>9.2f}  "
            f"{1 - c.truncated / c.whole:>6.1%}  {c.network_rows / c.units:>9.2f}  {c.atlas_flops / 1e15:>11.1f}"
        )
    total = sum(c.atlas_flops for c in costs)
    whole = sum(c.whole * c.network_rows * PAPER_STEPS for c in costs)
    unshared = sum(c.truncated * c.units * PAPER_CHIS * PAPER_STEPS for c in costs)
    units = sum(c.units for c in costs)
    lines += [
        "",
        f"paper atlas: {units} units x {PAPER_CHIS} chi x {PAPER_STEPS} steps = "
        f"{units * PAPER_CHIS * PAPER_STEPS:,} unit-steps; {total / 1e18:.2f} EFLOP with the truncated forward "
        f"and row sharing ({whole / 1e18:.2f} EFLOP through the whole network: the cut saves "
        f"{1 - total / whole:.1%}; row sharing across chi saves {1 - total / unshared:.1%})",
        f"peak used: {PEAK_SOURCE}",
    ]
    for share in (0.4, 0.6):
        rate = share * H200_BF16_DENSE_TFLOPS * 1e12
        lines.append(
            f"at {share:.0%} of that peak ({share * H200_BF16_DENSE_TFLOPS:.0f} TFLOP/s): "
            f"{total / rate / 3600:.1f} GPU-hours"
        )
    lines.append(
        "not counted: element-wise work (regularisers, update: a few passes over the inputs per step) "
        "and host overheads, so these are lower bounds on time; bf16 tensor-core rates assume the "
        "engine's bf16 autocast"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()

    from generator.zoo import fusion_vgg16

    with torch.device("meta"):  # shapes only: counting needs no memory and no arithmetic
        model = fusion_vgg16(
            num_classes=101, flow_fields=args.fields, image_size=args.size, tower_weights="random"
        )
    model.eval().requires_grad_(False)
    description = model.describe()
    costs = layer_costs(model, description)
    lines = [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        "device: none (FLOPs counted on meta tensors with torch.utils.flop_counter.FlopCounterMode)",
        f"command: {' '.join(shlex.quote(a) for a in ['python', *sys.argv])}",
        f"torch: {torch.__version__}",
        f"network: fusion_vgg16, {args.size}x{args.size}, L = {args.fields} flow fields, 101 classes; "
        "one row, forward to the layer plus the input gradient (multiply-add = 2 FLOPs)",
        "",
        *report(costs),
    ]
    print("\n".join(lines))
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
