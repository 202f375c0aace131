"""Rendering: flow codes (colour wheel, x/y/magnitude), displayable frames, and atomic MP4/PNG writing."""

from generator.media.flow_codes import (
    colorwheel_legend,
    flow_to_colorwheel,
    flow_to_xymag,
    max_flow_magnitude,
)
from generator.media.frames import (
    DEFAULT_MEAN,
    appearance_frames,
    composite,
    decode_flow_code,
    display_factor,
    flow_fields,
    flow_frames,
    motion_frames,
    upscale,
)
from generator.media.media_set import write_frame_set, write_media_set
from generator.media.video import EncodeError, encode_png, read_mp4, write_mp4, write_png, write_poster

__all__ = [
    "DEFAULT_MEAN",
    "EncodeError",
    "appearance_frames",
    "colorwheel_legend",
    "composite",
    "decode_flow_code",
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
