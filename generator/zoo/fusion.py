"""The two-stream fusion network of Feichtenhofer et al. (CVPR 2016) and a small sibling.

Two VGG-style towers (appearance: one RGB frame; motion: a stack of L flow fields) fold
the T snippets into the batch. After the last tower ReLU their channels are concatenated,
restored to (B, 2C, T, h, w) and fused by a 3x3x3 Conv3d, followed by 3D max pooling over
(T x 2 x 2) and an fc6-fc7-fc8 head. The motion tower keeps its own head; the network
returns the mean of the two fc8 outputs (pre-softmax).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from generator.errors import ModelError
from generator.model_sources import FUSION_VGG16, SMALL_FUSION
from generator.world.inputs import RGB_MEAN
from generator.zoo.activations import ReLU
from generator.zoo.checkpoint import read_state_dict
from generator.zoo.scores import ScoreAverage, default_class_names
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription
from generator.zoo.weight_files import imagenet_tower_state, vgg16_file

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FUSION_INIT_WEIGHTS = (0.25, 0.75)  # (appearance, motion) identity weights of the fusion conv


@dataclass(frozen=True)
class FusionConfig:
    """Everything that fixes the fusion network's shape."""

    name: str
    blocks: tuple[tuple[int, ...], ...]
    flow_fields: int
    image_size: int
    fc: int
    num_classes: int
    classes: tuple[str, ...]
    dropout: float = 0.5
    rgb_mean: tuple[float, float, float] = RGB_MEAN

    def __post_init__(self) -> None:
        if not self.blocks or any(not block or min(block) < 1 for block in self.blocks):
            raise ModelError(
                f"Fusion network {self.name!r}: every block needs at least one conv width >= 1, got {self.blocks}."
            )
        if self.flow_fields < 1:
            raise ModelError(
                f"Fusion network {self.name!r}: flow_fields must be >= 1, got {self.flow_fields}."
            )
        factor = 2 ** len(self.blocks)
        if self.image_size < factor or self.image_size % factor:
            raise ModelError(
                f"Fusion network {self.name!r}: image_size {self.image_size} must be a positive multiple of "
                f"{factor} (2 to the number of blocks, {len(self.blocks)}), "
                f"e.g. {factor * max(1, self.image_size // factor)}."
            )
        if self.fc < 1 or self.num_classes < 1:
            raise ModelError(
                f"Fusion network {self.name!r}: fc ({self.fc}) and num_classes ({self.num_classes}) must be >= 1."
            )
        if len(self.classes) != self.num_classes:
            raise ModelError(
                f"Fusion network {self.name!r}: {len(self.classes)} class names given "
                f"for num_classes={self.num_classes}."
            )
        if len(set(self.classes)) != len(self.classes) or any(not c or "/" in c for c in self.classes):
            raise ModelError(
                f"Fusion network {self.name!r}: class names must be unique, non-empty and contain no '/'."
            )

    @property
    def width(self) -> int:
        """Channels of the last tower conv, C (the fusion conv maps 2C -> C)."""
        return self.blocks[-1][-1]

    @property
    def pooled_size(self) -> int:
        """Side of the feature map entering fc6 (after the 3D max pooling)."""
        return self.image_size // 2 ** len(self.blocks)


def fusion_layer_name(blocks: Sequence[Sequence[int]]) -> str:
    """``conv{last block}_fusion``: conv5_fusion for VGG-16."""
    return f"conv{len(blocks)}_fusion"


def gaussian_kernel_3d(size: int = 3, sigma: float = 1.0) -> torch.Tensor:
    """A (size, size, size) Gaussian that sums to one."""
    axis = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    one_d = torch.exp(-(axis**2) / (2 * sigma**2))
    kernel = one_d[:, None, None] * one_d[None, :, None] * one_d[None, None, :]
    return (kernel / kernel.sum()).float()


def fusion_init_weight(
    channels: int, weights: tuple[float, float] = FUSION_INIT_WEIGHTS, sigma: float = 1.0
) -> torch.Tensor:
    """(C, 2C, 3, 3, 3) weight: weights[0] x identity on the appearance half, weights[1] x identity
    on the motion half, times a normalized 3x3x3 Gaussian (the paper's initialisation)."""
    weight = torch.zeros(channels, 2 * channels, 3, 3, 3)
    kernel = gaussian_kernel_3d(3, sigma)
    index = torch.arange(channels)
    weight[index, index] = weights[0] * kernel
    weight[index, index + channels] = weights[1] * kernel
    return weight


def _tower(in_channels: int, blocks: Sequence[Sequence[int]]) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = in_channels
    for b, block in enumerate(blocks, 1):
        for i, width in enumerate(block, 1):
            layers[f"conv{b}_{i}"] = nn.Conv2d(channels, width, kernel_size=3, padding=1)
            layers[f"relu{b}_{i}"] = ReLU()
            channels = width
        if b < len(blocks):
            layers[f"pool{b}"] = nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.Sequential(layers)


def _head(in_features: int, fc: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            fc6=nn.Linear(in_features, fc),
            relu6=ReLU(),
            drop6=nn.Dropout(dropout),
            fc7=nn.Linear(fc, fc),
            relu7=ReLU(),
            drop7=nn.Dropout(dropout),
            fc8=nn.Linear(fc, num_classes),
        )
    )


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W), snippet-major (row b*T + t)."""
    b, c, t, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)


def _unfold(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*T, C, h, w) -> (B, C, T, h, w)."""
    bt, c, h, w = x.shape
    return x.reshape(batch, bt // batch, c, h, w).permute(0, 2, 1, 3, 4)


def _without_channels(x: torch.Tensor) -> tuple[int, ...]:
    return (x.shape[0], *x.shape[2:])


def _pool_snippets(x: torch.Tensor) -> torch.Tensor:
    """3D max pooling over (T x 2 x 2): all T snippets at once, then flatten for fc6."""
    t = x.shape[2]
    return F.max_pool3d(x, kernel_size=(t, 2, 2), stride=(t, 2, 2)).flatten(1)


class TwoStreamFusionNet(nn.Module):
    """``forward(appearance, motion)`` with inputs (B, 3, T, H, W) and (B, 2L, T, H, W) in network
    units; returns (B, num_classes) scores, the mean of the fused and the motion head."""

    def __init__(self, config: FusionConfig, architecture: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self._architecture = dict(architecture) if architecture is not None else None
        width = config.width
        head_in = width * config.pooled_size**2
        self.appearance = _tower(3, config.blocks)
        self.motion = _tower(2 * config.flow_fields, config.blocks)
        fusion_name = fusion_layer_name(config.blocks)
        self.fusion = nn.Sequential(
            OrderedDict(
                [
                    (fusion_name, nn.Conv3d(2 * width, width, kernel_size=3, padding=1)),
                    (fusion_name.replace("conv", "relu", 1), ReLU()),
                ]
            )
        )
        self.head = _head(head_in, config.fc, config.num_classes, config.dropout)
        self.motion_head = _head(head_in, config.fc, config.num_classes, config.dropout)
        self.score = ScoreAverage()
        self._init_weights()

    @property
    def architecture(self) -> dict[str, Any] | None:
        """Builder name and keyword arguments that rebuild this network (a copy)."""
        return _plain(self._architecture) if self._architecture is not None else None

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)
        fusion_conv = self.fusion[0]
        with torch.no_grad():
            fusion_conv.weight.copy_(fusion_init_weight(self.config.width))
            fusion_conv.bias.zero_()

    def forward(self, appearance: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        if (
            appearance.dim() != 5
            or motion.dim() != 5
            or _without_channels(appearance) != _without_channels(motion)
        ):
            raise ModelError(
                f"{self.config.name} expects appearance (B, 3, T, H, W) and motion (B, "
                f"{2 * self.config.flow_fields}, T, H, W) with the same B, T, H and W; got "
                f"{tuple(appearance.shape)} and {tuple(motion.shape)}."
            )
        batch = appearance.shape[0]
        # The motion branch runs first, the fused branch last: activation maximisation cuts the
        # forward pass at its target layer, so a motion-tower or motion-head target then never
        # computes the appearance tower, the fusion or the fused head (2x less work there).
        mot = self.motion(_fold(motion))
        motion_scores = self.motion_head(_pool_snippets(_unfold(mot, batch)))
        app = self.appearance(_fold(appearance))
        fused = self.fusion(_unfold(torch.cat([app, mot], dim=1), batch))
        fused_scores = self.head(_pool_snippets(fused))
        return self.score(fused_scores, motion_scores)

    def describe(self) -> ModelDescription:
        """The layer registry, computed analytically from the conv/pool sequence."""
        return describe_fusion(self.config)


def describe_fusion(config: FusionConfig) -> ModelDescription:
    """Inputs and layers of a fusion network; receptive fields are clipped to the input size."""
    size = config.image_size
    inputs = (
        InputSpec("appearance", "rgb", 3, 1, size, size, tuple(config.rgb_mean)),
        InputSpec("motion", "flow", 2 * config.flow_fields, 1, size, size, None),
    )
    both = ("appearance", "motion")
    layers: list[LayerInfo] = []
    depth = 0
    stride, field = 1, 1
    for b, block in enumerate(config.blocks, 1):
        for i, width in enumerate(block, 1):
            depth += 1
            field += 2 * stride  # 3x3 conv, stride 1
            seen = min(field, size)
            for stream in both:
                name = f"conv{b}_{i}"
                layers.append(
                    LayerInfo(
                        f"{stream}/{name}",
                        f"{stream}.{name}",
                        "conv2d",
                        width,
                        stride,
                        seen,
                        depth,
                        (stream,),
                    )
                )
        if b < len(config.blocks):
            field += stride  # 2x2 max pool, stride 2
            stride *= 2
    fusion_name = fusion_layer_name(config.blocks)
    depth += 1
    field += 2 * stride  # 3x3x3 fusion conv
    seen = min(field, size)
    layers.append(
        LayerInfo(
            f"fusion/{fusion_name}",
            f"fusion.{fusion_name}",
            "conv3d",
            config.width,
            stride,
            seen,
            depth,
            both,
        )
    )
    for fc in ("fc6", "fc7"):
        depth += 1
        layers.append(LayerInfo(f"head/{fc}", f"head.{fc}", "fc", config.fc, 1, size, depth, both))
        layers.append(
            LayerInfo(f"motion/{fc}", f"motion_head.{fc}", "fc", config.fc, 1, size, depth, ("motion",))
        )
    layers.append(
        LayerInfo("class", "score", "class", config.num_classes, 1, size, depth + 1, both, config.classes)
    )
    return ModelDescription(config.name, inputs, tuple(layers), config.classes)


def _plain(value: Any) -> Any:
    """JSON-like copy: tuples become lists, so a rebuilt architecture compares equal."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _classes(classes: Sequence[str] | None, num_classes: int) -> tuple[str, ...]:
    return tuple(classes) if classes is not None else default_class_names(num_classes)


def small_fusion(
    num_classes: int = 12,
    flow_fields: int = 4,
    image_size: int = 64,
    widths: Sequence[int] = (8, 16, 32, 32),
    convs_per_block: int = 1,
    fc: int = 32,
    classes: Sequence[str] | None = None,
    dropout: float = 0.5,
) -> TwoStreamFusionNet:
    """The embedded default model's architecture: the fusion net at a small scale."""
    if convs_per_block < 1:
        raise ModelError(f"small_fusion: convs_per_block must be >= 1, got {convs_per_block}.")
    names = _classes(classes, num_classes)
    config = FusionConfig(
        name=SMALL_FUSION,
        blocks=tuple((int(w),) * convs_per_block for w in widths),
        flow_fields=flow_fields,
        image_size=image_size,
        fc=fc,
        num_classes=num_classes,
        classes=names,
        dropout=dropout,
    )
    architecture = {
        "builder": SMALL_FUSION,
        "kwargs": {
            "num_classes": num_classes,
            "flow_fields": flow_fields,
            "image_size": image_size,
            "widths": list(widths),
            "convs_per_block": convs_per_block,
            "fc": fc,
            "classes": list(names),
            "dropout": dropout,
        },
    }
    return TwoStreamFusionNet(config, architecture)


def fusion_vgg16(
    num_classes: int = 101,
    flow_fields: int = 10,
    image_size: int = 224,
    classes: Sequence[str] | None = None,
    tower_weights: Path | str | None = None,
    width_multiplier: float = 1.0,
) -> TwoStreamFusionNet:
    """The paper's network: VGG-16 towers, conv5 fusion, fc6/fc7 of 4096 units.

    ``width_multiplier`` (< 1 only in tests) scales every conv width and fc6/fc7, so that a tiny
    network runs every stage of the training recipe.

    ``tower_weights`` (``model.weights``) must be given: ``"imagenet"`` loads torchvision's
    vgg16-397923af.pth from the local torch hub cache, a path loads that VGG-16 state dict,
    ``"random"`` loads none. Nothing is downloaded (see generator/zoo/weights_choice.py).
    """
    names = _classes(classes, num_classes)
    config = FusionConfig(
        name=FUSION_VGG16,
        blocks=tuple(tuple(max(1, round(w * width_multiplier)) for w in block) for block in VGG16_BLOCKS),
        flow_fields=flow_fields,
        image_size=image_size,
        fc=max(1, round(4096 * width_multiplier)),
        num_classes=num_classes,
        classes=names,
    )
    architecture = {
        "builder": FUSION_VGG16,
        "kwargs": {
            "num_classes": num_classes,
            "flow_fields": flow_fields,
            "image_size": image_size,
            "classes": list(names),
            **({"width_multiplier": width_multiplier} if width_multiplier != 1.0 else {}),
        },
    }
    source = vgg16_file(tower_weights)  # before building: a missing file fails fast
    net = TwoStreamFusionNet(config, architecture)
    if source is not None:
        net.load_state_dict(
            imagenet_tower_state(read_state_dict(source), net.state_dict(), config), strict=False
        )
    return net


__all__ = [
    "FusionConfig",
    "TwoStreamFusionNet",
    "describe_fusion",
    "fusion_init_weight",
    "fusion_vgg16",
    "gaussian_kernel_3d",
    "small_fusion",
]
