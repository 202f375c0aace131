"""The synthetic action world: procedurally rendered action clips with exact optical flow and planted
class cues (see docs on the synthetic world). Scene primitives (parts, rigs, raster), the twelve classes
(faces, bodies, music, billiards, classes), the paper's flow coding (flow), probe sets, network inputs
(inputs) and a cached dataset reader (dataset; imported lazily because it needs torch)."""

from __future__ import annotations

from typing import Any

from generator.world.classes import CLASSES, PROBES, class_index
from generator.world.flow import FLOW_CLIP, decode_flow, encode_flow
from generator.world.inputs import RGB_MEAN, snippet_starts, to_network_inputs
from generator.world.render import Clip, build_scene, render_clip
from generator.world.spec import WorldSpec

__all__ = [
    "CLASSES",
    "FLOW_CLIP",
    "PROBES",
    "RGB_MEAN",
    "Clip",
    "SyntheticClips",
    "WorldSpec",
    "build_scene",
    "class_index",
    "decode_flow",
    "encode_flow",
    "render_clip",
    "snippet_starts",
    "to_network_inputs",
]


def __getattr__(name: str) -> Any:
    if name == "SyntheticClips":  # keeps `import generator.world` free of torch
        from generator.world.dataset import SyntheticClips

        return SyntheticClips
    raise AttributeError(f"module 'generator.world' has no attribute {name!r}")
