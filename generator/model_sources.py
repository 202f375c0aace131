"""The names ``model.source`` may take, defined once for the configuration, the loader, the
checkpoint registry and the training recipe.

This module imports nothing, so the configuration can check a source without loading torch.
"""

from __future__ import annotations

from typing import Literal, get_args

DEFAULT = "default"  # the embedded model trained on the synthetic world
FusionNetwork = Literal["small_fusion", "fusion_vgg16"]
FUSION_NETWORKS: tuple[FusionNetwork, ...] = get_args(FusionNetwork)
SMALL_FUSION, FUSION_VGG16 = FUSION_NETWORKS
TORCHVISION = "torchvision"  # the builder of torchvision's video networks: source "torchvision:<name>"
TORCHVISION_NETS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")
NAMED_SOURCES = (DEFAULT, *FUSION_NETWORKS)


def torchvision_source(name: str) -> str:
    """The source that names torchvision video network ``name``, e.g. ``torchvision:r3d_18``."""
    return f"{TORCHVISION}:{name}"


def torchvision_name(source: str) -> str | None:
    """``<name>`` of a ``torchvision:<name>`` source, or None for any other source."""
    prefix = torchvision_source("")
    return source[len(prefix) :] if source.startswith(prefix) else None


def is_import_path(source: str) -> bool:
    """Whether ``source`` has the shape of a user model's ``package.module:function``."""
    return ":" in source and not source.startswith(":")


def valid_sources(torchvision: str = "<name>") -> str:
    """The valid sources, for messages; ``torchvision`` stands for the network's name."""
    return (
        ", ".join(repr(s) for s in NAMED_SOURCES)
        + f", {torchvision_source(torchvision)!r} or a user model's import path 'package.module:function'"
    )
