"""Networks and the registry of their layers.

The paper's two-stream VGG-16 fusion network and a small sibling (the embedded default
model), torchvision's video networks, and user models brought by import path; for each,
a ModelDescription naming every addressable layer with its units, stride, receptive
field, depth and streams. ``load`` returns a frozen, described and hashed network.
"""

from generator.zoo.activations import ReLU, with_negative_slope
from generator.zoo.checkpoint import (
    CHECKPOINT_FORMAT,
    is_atlas_checkpoint,
    model_hash,
    read_checkpoint,
    save_checkpoint,
    state_dict_mismatch,
)
from generator.zoo.discover import describe_by_probe, discover_layers
from generator.zoo.fusion import (
    FusionConfig,
    TwoStreamFusionNet,
    describe_fusion,
    fusion_init_weight,
    fusion_vgg16,
    small_fusion,
)
from generator.zoo.loading import DEFAULT_CHECKPOINT, LoadedModel, build_from_architecture, load
from generator.zoo.scores import ClassScores, ScoreAverage, default_class_names
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription
from generator.zoo.video_nets import VIDEO_NETS, VideoNet, torchvision_video

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_CHECKPOINT",
    "VIDEO_NETS",
    "ClassScores",
    "FusionConfig",
    "InputSpec",
    "LayerInfo",
    "LoadedModel",
    "ModelDescription",
    "ReLU",
    "ScoreAverage",
    "TwoStreamFusionNet",
    "VideoNet",
    "build_from_architecture",
    "default_class_names",
    "describe_by_probe",
    "describe_fusion",
    "discover_layers",
    "fusion_init_weight",
    "fusion_vgg16",
    "is_atlas_checkpoint",
    "load",
    "model_hash",
    "read_checkpoint",
    "save_checkpoint",
    "small_fusion",
    "state_dict_mismatch",
    "torchvision_video",
    "with_negative_slope",
]
