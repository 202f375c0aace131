"""Weight files for the fusion network: where torchvision's VGG-16 file lives, which file a
``model.weights`` choice names, and how a VGG-16 state dict maps onto the two towers.

Nothing is downloaded: a named choice resolves to one fixed file in the torch hub cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from generator.errors import CheckpointError
from generator.zoo.weights_choice import KEY, Weights, resolve

if TYPE_CHECKING:
    from generator.zoo.fusion import FusionConfig

# torchvision's VGG-16 expects (x / 255 - mean) / std; folded into conv1_1 when its weights are used.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)


def conv_names(blocks: Sequence[Sequence[int]]) -> list[str]:
    """VGG conv names in order: conv1_1, conv1_2, conv2_1, ..."""
    return [f"conv{b}_{i}" for b, block in enumerate(blocks, 1) for i in range(1, len(block) + 1)]


def hub_checkpoints() -> Path:
    """The torch hub cache's checkpoint folder (under TORCH_HOME when set)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


VGG16_FILE = "vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1


def vgg16_file(tower_weights: Path | str | None) -> Path | None:
    """The VGG-16 state dict that ``model.weights`` names, or None for random towers; a missing file is an error."""
    choice = resolve(
        tower_weights,
        network="fusion_vgg16 (its VGG-16 towers)",
        named=Weights.IMAGENET,
        what=f"torchvision's {VGG16_FILE} from the torch hub cache",
    )
    if choice is Weights.RANDOM:
        return None
    path = hub_checkpoints() / VGG16_FILE if choice is Weights.IMAGENET else Path(choice)
    if not path.is_file():
        where = "in the torch hub cache, and nothing is downloaded. Copy it there (or set TORCH_HOME)"
        raise CheckpointError(
            f"{KEY} = {str(tower_weights)!r}: the VGG-16 weights file {str(path)!r} does not exist"
            + (
                f" {where}, or give the file's path as {KEY}."
                if choice is Weights.IMAGENET
                else "; give the path of a VGG-16 state dict."
            )
        )
    return path


def imagenet_tower_state(
    vgg: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], config: FusionConfig
) -> dict[str, torch.Tensor]:
    """Tower (and, where shapes fit, fc6/fc7) tensors for ``target`` from a torchvision VGG-16 state dict.

    The appearance tower takes the convs directly, with torchvision's input normalization
    folded into conv1_1 (our input is 0..255 minus the mean). The motion tower uses the
    cross-modality initialisation: conv1_1's RGB filters averaged over channels and
    replicated to the 2L flow channels; its other convs are copied.
    """
    conv_keys = sorted(
        (k for k, v in vgg.items() if k.startswith("features.") and k.endswith(".weight") and v.dim() == 4),
        key=lambda k: int(k.split(".")[1]),
    )
    names = conv_names(config.blocks)
    if len(conv_keys) != len(names):
        raise CheckpointError(
            f"The VGG-16 weights hold {len(conv_keys)} conv layers; the towers need {len(names)}."
        )
    out: dict[str, torch.Tensor] = {}
    for name, key in zip(names, conv_keys):
        weight, bias = vgg[key].float(), vgg[key.removesuffix("weight") + "bias"].float()
        if name == "conv1_1":
            folded, folded_bias = fold_normalization(weight, bias, config.rgb_mean)
            flow = folded.mean(dim=1, keepdim=True).expand(-1, 2 * config.flow_fields, -1, -1)
            out["appearance.conv1_1.weight"], out["appearance.conv1_1.bias"] = folded, folded_bias
            out["motion.conv1_1.weight"], out["motion.conv1_1.bias"] = flow.contiguous(), bias.clone()
        else:
            for stream in ("appearance", "motion"):
                out[f"{stream}.{name}.weight"], out[f"{stream}.{name}.bias"] = weight.clone(), bias.clone()
    for fc, index in (("fc6", 0), ("fc7", 3)):
        weight, bias = vgg.get(f"classifier.{index}.weight"), vgg.get(f"classifier.{index}.bias")
        for head in ("head", "motion_head"):
            key = f"{head}.{fc}.weight"
            if weight is not None and bias is not None and tuple(weight.shape) == tuple(target[key].shape):
                out[key], out[f"{head}.{fc}.bias"] = weight.float().clone(), bias.float().clone()
    mismatched = [
        f"{key} (needs {tuple(target[key].shape)}, file has {tuple(value.shape)})"
        for key, value in out.items()
        if tuple(value.shape) != tuple(target[key].shape)
    ]
    if mismatched:
        raise CheckpointError("The VGG-16 weights do not fit the towers: " + "; ".join(mismatched) + ".")
    return out


def fold_normalization(
    weight: torch.Tensor, bias: torch.Tensor, rgb_mean: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """conv1_1 for input u = x - M (x in 0..255) equal to torchvision's conv1_1 on (x/255 - m)/s."""
    scale = torch.tensor([255.0 * s for s in TORCHVISION_STD])
    shift = torch.tensor([m - 255.0 * tm for m, tm in zip(rgb_mean, TORCHVISION_MEAN)])
    folded = weight / scale[None, :, None, None]
    return folded, bias + (folded * shift[None, :, None, None]).sum(dim=(1, 2, 3))
