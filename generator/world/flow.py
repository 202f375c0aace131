"""The paper's 8-bit optical-flow coding: pixels <-> network units <-> stored bytes.

code = (clip(f, -20, 20) + 20) * 255 / 40 - 128, so zero flow -> -0.5 and +-20 px -> -0.5 +- 127.5
(i.e. 127 and -128).
Flow is stored on disk as the uint8 byte round((clip(f) + 20) * 255 / 40), as the original work
stored flow as 8-bit images; the code of a stored byte is byte - 128.
Every function accepts numpy arrays and torch tensors and returns the same kind.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

FLOW_CLIP = 20.0
"""Flow magnitude (pixels per frame, per component) that maps to the ends of the 8-bit range."""

_SCALE = 255.0 / (2.0 * FLOW_CLIP)
_OFFSET = 128.0

CODE_RANGE = (-_OFFSET, 255.0 - _OFFSET)
"""The codes of the stored bytes 0 and 255: the range of network units stored flow can take."""


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # avoid importing torch just to check a type
    return torch is not None and isinstance(x, torch.Tensor)


def _as_float_array(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float32)


def encode_flow(f: Any) -> Any:
    """Flow in pixels -> network units (clipped to +-FLOW_CLIP first)."""
    if _is_tensor(f):
        f = f if f.is_floating_point() else f.float()
        return (f.clamp(-FLOW_CLIP, FLOW_CLIP) + FLOW_CLIP) * _SCALE - _OFFSET
    a = _as_float_array(f)
    return ((np.clip(a, -FLOW_CLIP, FLOW_CLIP) + FLOW_CLIP) * _SCALE - _OFFSET).astype(a.dtype, copy=False)


def decode_flow(code: Any) -> Any:
    """Network units -> flow in pixels (the inverse of encode_flow inside the clip range)."""
    if _is_tensor(code):
        code = code if code.is_floating_point() else code.float()
        return (code + _OFFSET) / _SCALE - FLOW_CLIP
    a = _as_float_array(code)
    return ((a + _OFFSET) / _SCALE - FLOW_CLIP).astype(a.dtype, copy=False)


def flow_to_bytes(f: np.ndarray) -> np.ndarray:
    """Flow in pixels -> the stored 8-bit form (uint8, 0..255)."""
    a = np.clip(np.asarray(f, dtype=np.float64), -FLOW_CLIP, FLOW_CLIP)
    return np.rint((a + FLOW_CLIP) * _SCALE).astype(np.uint8)


def bytes_to_code(b: np.ndarray) -> np.ndarray:
    """Stored 8-bit flow -> network units (float32): byte - 128."""
    return np.asarray(b, dtype=np.float32) - np.float32(_OFFSET)


def code_to_bytes(code: np.ndarray) -> np.ndarray:
    """Network units -> the stored 8-bit form, rounded to the nearest byte (inverse of bytes_to_code)."""
    return (np.clip(np.rint(code), *CODE_RANGE) + _OFFSET).astype(np.uint8)
