"""The paper's training recipe: the stages, which parameters each trains, and where every value comes from.

Sources: [FPZ16] Feichtenhofer, Pinz, Zisserman, "Convolutional Two-Stream Network Fusion for Video
Action Recognition", CVPR 2016, section 5 (implementation details); [SZ14] Simonyan & Zisserman,
"Two-Stream Convolutional Networks for Action Recognition in Videos", NIPS 2014, section 6; [WXW15]
Wang, Xiong, Wang, Qiao, "Towards Good Practices for Very Deep Two-Stream ConvNets", 2015 (multi-scale
corner cropping); method.md (this project's spec). Values marked *choice* are not published.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from generator.zoo.fusion import TwoStreamFusionNet, _fold, _pool_snippets, _unfold

SOURCES: dict[str, str] = {
    "network": "VGG-16 towers, conv5_3 fusion by a 3x3x3 Conv3d 1024->512 and 3D max pooling over T x 2 x 2 "
    "[FPZ16 sec. 3.5, 5; method.md]",
    "tower_weights": "both towers from ImageNet VGG-16 [FPZ16 sec. 5: 'We employ two pre-trained ImageNet models']",
    "cross_modality": "motion conv1_1 = the RGB filters averaged over colour, replicated over the 2L flow "
    "channels [WXW15 sec. 2.2 'cross modality pre-training'; the issue]",
    "stages": "each stream trained alone first, then the fusion stage [FPZ16 sec. 5: 'We first separately "
    "train the two streams as described in [SZ14]']",
    "fusion_init": "0.25 x identity (appearance) and 0.75 x identity (motion, activations about 3x lower) "
    "times a normalized 3x3x3 Gaussian, sigma 1 [FPZ16 sec. 5; method.md]",
    "fusion_backprop": "fusion stage trains only the fusion conv and the fused head; the towers stay fixed "
    "[FPZ16 sec. 5: 'We only propagate back to the injected fusion layer']",
    "fusion_loss": "the fusion stage's loss is on the fused head only, the motion head is not fused at the "
    "prediction layer during training [FPZ16 sec. 5]; at test the two heads' scores are averaged",
    "snippets": "T = 5 snippets per clip [FPZ16 sec. 5; method.md]",
    "tau": "tau random per clip (5..15 frames in method.md, 1..10 in FPZ16); here in stored positions "
    "(data.py): *choice* of positions and tau_steps so one position is about tau frames",
    "flow": "L = 10 flow fields, clipped to +-20 px, 8-bit JPEG coding [FPZ16 sec. 5; SZ14; method.md]",
    "batch_size": "96 [FPZ16 sec. 5]",
    "optimizer": "SGD, momentum 0.9 [SZ14 sec. 6]",
    "weight_decay": "5e-4 [SZ14, the VGG training recipe]",
    "learning_rate": "1e-3, divided by 10 [FPZ16 sec. 5]; FPZ16 lowers it when validation saturates, here at "
    "fixed fractions of each stage (lr_steps) so a resumed run is the same run: *choice*, fractions from SZ14 "
    "(spatial 14K of 20K iterations = 0.7; temporal 50K and 70K of 80K = 0.625, 0.875)",
    "dropout": "0.85 after fc6 and fc7 of the appearance (and fused) head [FPZ16 sec. 5], 0.9 for the motion "
    "head [SZ14 sec. 6]",
    "crops": "multi-scale corner cropping: width and height each from {1, 0.875, 0.75, 0.66} of the 256 px "
    "side (256, 224, 192, 168 px), at a corner or the centre, resized to 224 [WXW15 sec. 2.3]; the same crop "
    "for every frame and flow field of a clip [FPZ16 sec. 5]",
    "flips": "horizontal flip with probability 0.5; the flip negates the flow's u component [SZ14; the issue]",
    "joint": "*choice*, not the paper's: one end-to-end stage that trains the whole network's score (the mean "
    "of the fused and the motion head) at once, as the default model is trained on the synthetic world "
    "(generator/train.py); for a small network trained from scratch",
    "epochs": "*choice*: 30 (appearance), 60 (motion, its iterations are 4x the spatial net's in SZ14), 30 "
    "(fusion)",
    "store_ratio": "frames rescaled so the short side is 256 for a 224 input [FPZ16 sec. 5]",
}


@dataclass(frozen=True)
class Stage:
    """A stage of the recipe: its name, the modules it trains and the head whose loss it minimises."""

    name: str
    trains: tuple[str, ...]  # attribute names of TwoStreamFusionNet
    heads: tuple[str, ...]  # heads whose dropout the stage's setting applies to


STAGES: dict[str, Stage] = {
    "appearance": Stage("appearance", ("appearance", "head"), ("head",)),
    "motion": Stage("motion", ("motion", "motion_head"), ("motion_head",)),
    "fusion": Stage("fusion", ("fusion", "head"), ("head",)),
    "joint": Stage(
        "joint", ("appearance", "motion", "fusion", "head", "motion_head"), ("head", "motion_head")
    ),
}


def trained_parameters(model: TwoStreamFusionNet, stage: Stage) -> list[nn.Parameter]:
    """The parameters a stage updates, in a fixed order."""
    return [p for name in stage.trains for p in getattr(model, name).parameters()]


def set_trainable(model: TwoStreamFusionNet, stage: Stage) -> None:
    """Only the stage's parameters require gradients (the frozen towers then cost no backward pass)."""
    wanted = {id(p) for p in trained_parameters(model, stage)}
    for p in model.parameters():
        p.requires_grad_(id(p) in wanted)


def set_dropout(model: TwoStreamFusionNet, stage: Stage, rate: float) -> None:
    for head in stage.heads:
        for module in getattr(model, head).modules():
            if isinstance(module, nn.Dropout):
                module.p = rate


def stage_scores(
    model: TwoStreamFusionNet, stage: Stage, appearance: torch.Tensor, motion: torch.Tensor
) -> torch.Tensor:
    """The scores a stage trains: appearance tower -> head; motion tower -> motion head; the fused
    branch (towers without gradients) -> head; or (joint) the whole network's. Inputs (B, C, T, H, W)
    in network units."""
    batch = appearance.shape[0]
    if stage.name == "joint":
        return model(appearance, motion)
    if stage.name == "appearance":
        return model.head(_pool_snippets(_unfold(model.appearance(_fold(appearance)), batch)))
    if stage.name == "motion":
        return model.motion_head(_pool_snippets(_unfold(model.motion(_fold(motion)), batch)))
    with torch.no_grad():
        towers = torch.cat([model.appearance(_fold(appearance)), model.motion(_fold(motion))], dim=1)
    return model.head(_pool_snippets(model.fusion(_unfold(towers, batch))))


class StageScores(nn.Module):
    """A stage's scores as a module's forward, so DistributedDataParallel can wrap the stage."""

    def __init__(self, model: TwoStreamFusionNet, stage: Stage) -> None:
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        return stage_scores(self.model, self.stage, appearance, motion)


def learning_rate(base: float, gamma: float, steps: tuple[float, ...], step: int, total: int) -> float:
    """The step schedule: ``base`` times ``gamma`` for every fraction of ``total`` steps already passed."""
    passed = sum(step >= round(f * total) for f in steps)
    return base * gamma**passed
