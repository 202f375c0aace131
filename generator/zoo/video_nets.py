"""torchvision's single-stream video networks (Kinetics-400) in network units.

r3d_18, mc3_18, r2plus1d_18 and s3d take one RGB clip (B, 3, T, H, W). Our network units
are 0..255 minus the Kinetics mean (in 0..255 units); torchvision's models expect
(x/255 - mean) / std, so the wrapper divides by 255 x std inside ``forward``. Weights
come from a given file or torchvision's file in the local torch hub cache, never from
the network; random weights only when asked for with ``model.weights: random``. Class names
are Kinetics-400's, made URL-safe ("hurling (sport)" -> "hurling_sport") for unit ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import WeightsEnum
from torchvision.models import video as tv_video

from generator.errors import CheckpointError, ModelError
from generator.model_sources import TORCHVISION, torchvision_source
from generator.zoo.checkpoint import read_state_dict, state_dict_mismatch
from generator.zoo.discover import describe_by_probe
from generator.zoo.scores import ClassScores
from generator.zoo.spec import InputSpec, ModelDescription
from generator.zoo.weights_choice import KEY, Weights, resolve

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # 0..1 units, as torchvision's transforms
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class VideoNetSpec:
    """How to build one torchvision video network and its documented default clip size."""

    build: Callable[..., nn.Module]
    weights: WeightsEnum
    frames: int
    size: int
    min_frames: int = 1
    min_size: int = 1


VIDEO_NETS: Mapping[str, VideoNetSpec] = {
    "r3d_18": VideoNetSpec(tv_video.r3d_18, tv_video.R3D_18_Weights.KINETICS400_V1, 16, 112),
    "mc3_18": VideoNetSpec(tv_video.mc3_18, tv_video.MC3_18_Weights.KINETICS400_V1, 16, 112),
    "r2plus1d_18": VideoNetSpec(tv_video.r2plus1d_18, tv_video.R2Plus1D_18_Weights.KINETICS400_V1, 16, 112),
    # S3D ends in a fixed (2, 7, 7) average pool: it needs at least 14 frames of 224 x 224.
    "s3d": VideoNetSpec(
        tv_video.s3d, tv_video.S3D_Weights.KINETICS400_V1, 16, 224, min_frames=14, min_size=224
    ),
}


class VideoNet(nn.Module):
    """A torchvision video net that takes network units: ``forward(video)`` -> (B, classes)."""

    def __init__(self, net: nn.Module, name: str, frames: int, size: int, classes: Sequence[str]) -> None:
        super().__init__()
        self.net = net
        self.scores = ClassScores()
        self.name = name
        self.frames = frames
        self.size = size
        self.classes = tuple(classes)
        scale = torch.tensor([255.0 * s for s in KINETICS_STD]).view(1, 3, 1, 1, 1)
        self.register_buffer("scale", scale, persistent=False)

    @property
    def architecture(self) -> dict[str, Any]:
        return {
            "builder": TORCHVISION,
            "kwargs": {"name": self.name, "frames": self.frames, "size": self.size},
        }

    def input_spec(self) -> InputSpec:
        mean = tuple(255.0 * m for m in KINETICS_MEAN)
        return InputSpec("video", "rgb", 3, self.frames, self.size, self.size, mean)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.scores(self.net(video / self.scale))

    def describe(self) -> ModelDescription:
        """Layer registry discovered by probing (names are torchvision module paths)."""
        return describe_by_probe(self.name, self, (self.input_spec(),), self.classes, strip_prefix="net.")


def torchvision_video(
    name: str,
    weights: Path | str | None = None,
    frames: int | None = None,
    size: int | None = None,
) -> VideoNet:
    """Build ``name`` (r3d_18, mc3_18, r2plus1d_18, s3d) with Kinetics-400 weights.

    ``weights`` (``model.weights``, required): ``"kinetics400"`` (or ``"cache"``) for torchvision's
    file in the torch hub cache, a state-dict file, or ``"random"`` for an untrained network. ``frames``/``size`` set the
    clip used for visualization (defaults: 16 frames at 112 x 112; s3d 224 x 224).
    """
    spec = VIDEO_NETS.get(name)
    if spec is None:
        raise ModelError(
            f"Unknown torchvision video network {name!r}; choose one of {', '.join(VIDEO_NETS)}."
        )
    frames = spec.frames if frames is None else int(frames)
    size = spec.size if size is None else int(size)
    if frames < spec.min_frames or size < spec.min_size:
        raise ModelError(
            f"{torchvision_source(name)} needs at least {spec.min_frames} frames of at least {spec.min_size} x "
            f"{spec.min_size} pixels; got {frames} frames of {size} x {size}."
        )
    classes = class_slugs(spec.weights.meta["categories"])
    net = spec.build(weights=None)
    choice = resolve(
        weights,
        network=torchvision_source(name),
        named=Weights.KINETICS400,
        what=f"torchvision's {hub_file(spec).name} from the torch hub cache",
    )
    if choice is not Weights.RANDOM:
        state = _read_state(_weights_file(name, spec, choice))
        _check_fits(state, net.state_dict(), name)
        net.load_state_dict(state)
    return VideoNet(net, name, frames, size, classes)


def class_slugs(categories: Sequence[str]) -> tuple[str, ...]:
    """Kinetics names as URL-safe unit names: "hurling (sport)" -> "hurling_sport"."""
    slugs = tuple(re.sub(r"[^A-Za-z0-9]+", "_", name.replace("'", "")).strip("_") for name in categories)
    if len(set(slugs)) != len(slugs) or not all(slugs):
        return tuple(f"{index:03d}_{slug}" for index, slug in enumerate(slugs))
    return slugs


def hub_file(spec: VideoNetSpec) -> Path:
    """Where torchvision keeps this network's weights in the local torch hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(spec.weights.url).name


def _weights_file(name: str, spec: VideoNetSpec, choice: Weights | Path) -> Path:
    if choice is Weights.KINETICS400:
        path = hub_file(spec)
        if not path.is_file():
            raise CheckpointError(
                f"No Kinetics-400 weights for torchvision:{name}: {str(path)!r} is not in the local torch hub cache "
                f"and nothing is downloaded. Copy torchvision's {path.name} there (or set TORCH_HOME), give the "
                f"file as model.checkpoint, or set {KEY} to random for an untrained network."
            )
        return path
    path = Path(choice)
    if not path.is_file():
        raise CheckpointError(
            f"{KEY} = {str(path)!r}: the weights file for torchvision:{name} does not exist."
        )
    return path


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    # Accept a state dict of the wrapper (keys "net.*") as well as torchvision's own.
    return {key.removeprefix("net."): value for key, value in read_state_dict(path).items()}


def _check_fits(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], name: str) -> None:
    problem = state_dict_mismatch(expected, state)
    if problem:
        raise CheckpointError(f"The weights do not fit torchvision:{name}: {problem}")
