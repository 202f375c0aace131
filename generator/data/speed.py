"""Real clips played faster or slower, for speed-tuning invariance on a data set on disk.

A real clip cannot be re-rendered at another speed as a synthetic one can, so it is resampled in
time:

* **faster** (an integer factor k >= 2): every k-th frame is kept, so the motion between two kept
  frames is k times longer. Flow is computed afresh (TV-L1 or RAFT) between the kept frames; a
  data set's precomputed flow is summed over each k consecutive fields instead (exact for steady
  motion, an approximation where motion changes within k frames).
* **slower** (a factor 1/k): the flow vectors are divided by k and the frames are kept. Repeating
  frames is not used: it inserts still pairs whose zero flow the network would see as a stop,
  not as slow motion.

Factor 1 is the clip as it is.
"""

from __future__ import annotations

import numpy as np

from generator.errors import DataError
from generator.world.flow import bytes_to_code, code_to_bytes

REAL_SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
"""Speed factors replayed from real clips: slower by rescaled flow, faster by skipped frames."""


def check_speed(factor: float) -> float:
    """A valid factor: 1, an integer >= 2 (faster) or 1/k for an integer k >= 2 (slower)."""
    if factor >= 1 and float(factor).is_integer():
        return float(factor)
    if 0 < factor < 1 and float(1 / factor).is_integer():
        return float(factor)
    raise DataError(
        f"A real clip can be replayed at an integer speed factor (faster) or 1/k (slower), not {factor!r}."
    )


def faster_frames(frames: np.ndarray, factor: float) -> np.ndarray:
    """Every k-th frame (k = factor >= 1) of (F, ...) frames."""
    return frames[:: int(check_speed(factor))] if factor >= 1 else frames


def faster_flow_bytes(flow: np.ndarray, factor: float) -> np.ndarray:
    """Stored 8-bit flow (F-1, H, W, 2) of the clip played k times faster: sums of k consecutive fields."""
    k = int(check_speed(factor)) if factor >= 1 else 1
    if k == 1:
        return flow
    codes = bytes_to_code(flow)
    count = len(codes) // k
    return _to_bytes(codes[: count * k].reshape(count, k, *codes.shape[1:]).sum(axis=1))


def slower_flow_bytes(motion: np.ndarray, factor: float) -> np.ndarray:
    """Stored 8-bit flow (any shape) with its vectors scaled by ``factor`` < 1 (slower motion)."""
    if factor >= 1:
        return motion
    return _to_bytes(bytes_to_code(motion) * np.float32(check_speed(factor)))


def _to_bytes(codes: np.ndarray) -> np.ndarray:
    """Codes (byte - 128, proportional to the flow) back to stored bytes. Sums and scalings work on the
    codes, not on decoded pixels: the stored byte of zero flow is 128 (code 0), which decodes to
    +0.08 px, and summing that offset k times would turn still pixels into motion."""
    return code_to_bytes(codes)
