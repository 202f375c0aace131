"""Rendering: flow codes (colour wheel, x/y/magnitude), displayable frames, and atomic MP4/PNG writing."""

from generator.media.flow_codes import (
    colorwheel_legend,
    flow_to_colorwheel,
    flow_to_xymag,
    max_flow_magnitude,
)
from generator.media.frames import (
    appearance_frames,
    composite,
    display_factor,
    flow_fields,
    flow_frames,
    motion_frames,
    upscale,
)
from generator.media.media_set import write_frame_set, write_media_set
from generator.media.video import EncodeError, encode_png, read_mp4, write_mp4, write_png, write_poster

__all__ = [
    "EncodeError",
    "appearance_frames",
    "colorwheel_legend",
    "composite",
    "display_factor",
    "encode_png",
    "flow_fields",
    "flow_frames",
    "flow_to_colorwheel",
    "flow_to_xymag",
    "max_flow_magnitude",
    "motion_frames",
    "read_mp4",
    "upscale",
    "write_frame_set",
    "write_media_set",
    "write_mp4",
    "write_png",
    "write_poster",
]
