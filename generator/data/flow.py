"""Optical flow for data sets without it: TV-L1 (the paper's flow) through OpenCV's contrib module,
or RAFT from torchvision with weights that are already on this machine (never downloaded).

Both return pixel flow (N, H, W, 2), u right and v down, for the frame pairs (t, t+1) asked for;
the data set stores it 8-bit in the paper's coding (generator.world.flow.flow_to_bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from generator.errors import DataError

TVL1_SETTINGS: dict[str, float | int] = {
    "tau": 0.25,
    "lambda": 0.15,
    "theta": 0.3,
    "scales": 5,
    "warps": 5,
    "epsilon": 0.01,
}
"""OpenCV's defaults for Dual TV-L1, which the two-stream papers used."""
RAFT_VARIANTS = ("raft_large", "raft_small")
RAFT_MIN_SIDE = 128
"""The smallest frame side RAFT's four-level correlation pyramid takes (8 x 2 x 2**3)."""


def flow_settings(method: str, raft_weights: Path | None = None) -> dict[str, Any]:
    """The method and its settings, as recorded in the manifest and in cache keys. For RAFT that is
    the weights file and its sha256 (other weights give other flow); a missing file stops here, with
    the error of :func:`raft_weights_path`, before any clip is prepared."""
    if method == "tvl1":
        return {"method": "tvl1", "opencv": _cv2_version(), **TVL1_SETTINGS}
    if method == "raft":
        path = raft_weights_path(raft_weights)
        return {
            "method": "raft",
            "weights": str(raft_weights) if raft_weights else f"torch cache ({path.name})",
            "weights_sha256": _file_sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns),
        }
    return {"method": method}


@lru_cache(maxsize=8)
def _file_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    """sha256 of a file's bytes, computed once per (path, size, modification time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cv2_version() -> str:
    try:
        import cv2
    except ImportError:
        return "missing"
    return str(cv2.__version__)


def check_tvl1() -> None:
    """Stop with one clear error when OpenCV's contrib module (optflow) is missing."""
    try:
        import cv2
    except ImportError:
        raise DataError(
            "TV-L1 flow (data.folder.flow = tvl1) needs OpenCV with its contrib module: "
            "pip install opencv-contrib-python-headless."
        ) from None
    if not hasattr(cv2, "optflow"):
        raise DataError(
            f"The installed OpenCV {cv2.__version__} lacks the contrib module 'optflow' that TV-L1 "
            "needs: pip uninstall opencv-python; pip install opencv-contrib-python-headless."
        )


@lru_cache(maxsize=1)
def _tvl1() -> Any:
    # One solver per process: creating it allocates its pyramids, reused across calls.
    import cv2

    s = TVL1_SETTINGS
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=s["tau"],
        lambda_=s["lambda"],
        theta=s["theta"],
        nscales=s["scales"],
        warps=s["warps"],
        epsilon=s["epsilon"],
    )


def grey(frames: np.ndarray) -> np.ndarray:
    """uint8 RGB (N, H, W, 3) -> uint8 luma (N, H, W) (ITU-R 601 weights, as cv2.cvtColor)."""
    import cv2

    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


def tvl1_flow(frames: np.ndarray, pairs: Sequence[int]) -> np.ndarray:
    """TV-L1 flow (len(pairs), H, W, 2) float32 of the frame pairs (t, t+1) for t in ``pairs``."""
    check_tvl1()
    luma = grey(frames)
    solver = _tvl1()
    return np.stack([solver.calc(luma[t], luma[t + 1], None) for t in pairs]).astype(np.float32)


def raft_weights_path(weights: Path | None, variant: str = "raft_large") -> Path:
    """The local RAFT weights: the configured file, else torchvision's file in the torch cache."""
    import torch
    from torchvision.models import optical_flow

    if weights is not None:
        if not Path(weights).is_file():
            raise DataError(
                f"The RAFT weights file {weights} (data.folder.raft_weights) does not exist. The atlas "
                f"never downloads weights: fetch {optical_flow.Raft_Large_Weights.DEFAULT.url} (raft_large) "
                f"or {optical_flow.Raft_Small_Weights.DEFAULT.url} (raft_small) on a machine with network "
                "access and put it at that path, or save a torchvision RAFT model's state_dict there."
            )
        return Path(weights)
    enum = optical_flow.Raft_Large_Weights if variant == "raft_large" else optical_flow.Raft_Small_Weights
    url = enum.DEFAULT.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if not cached.is_file():
        raise DataError(
            f"RAFT flow (data.folder.flow = raft) needs torchvision's weights, which the atlas never "
            f"downloads: fetch {url} on a machine with network access and put it at {cached}, or "
            "give its path as data.folder.raft_weights."
        )
    return cached


@lru_cache(maxsize=2)
def _raft(path: str, device: str) -> Any:
    import torch
    from torchvision.models.optical_flow import raft_large, raft_small

    state = torch.load(path, map_location="cpu", weights_only=True)
    for build in (raft_large, raft_small):  # the file says which by the keys it holds
        model = build()
        try:
            model.load_state_dict(state)
            break
        except RuntimeError:
            continue
    else:
        raise DataError(f"The file {path} holds neither torchvision's raft_large nor raft_small weights.")
    return model.eval().to(device)


def raft_flow(
    frames: np.ndarray, pairs: Sequence[int], weights: Path | None, device: str = "cpu"
) -> np.ndarray:
    """RAFT flow (len(pairs), H, W, 2) float32 of the frame pairs (t, t+1).

    RAFT's correlation pyramid needs frames of at least RAFT_MIN_SIDE pixels a side: smaller ones
    (a 64-pixel flow input) are enlarged for RAFT and its flow brought back to their size, vectors
    scaled with it. Frames are padded to a multiple of 8."""
    import torch
    import torch.nn.functional as F

    model = _raft(str(raft_weights_path(weights)), device)
    _, h, w, _ = frames.shape
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    scale = max(1.0, RAFT_MIN_SIDE / min(h, w))
    big_h, big_w = (h, w) if scale == 1.0 else (round(h * scale), round(w * scale))
    if scale > 1.0:
        images = F.interpolate(images, size=(big_h, big_w), mode="bilinear", align_corners=False)
    pad_h, pad_w = (-big_h) % 8, (-big_w) % 8
    images = F.pad(images, (0, pad_w, 0, pad_h), mode="replicate").to(device)
    index = torch.as_tensor(list(pairs))
    with torch.inference_mode():
        flow = model(images[index], images[index + 1])[-1][:, :, :big_h, :big_w]
        if scale > 1.0:
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([w / big_w, h / big_h], device=flow.device).view(1, 2, 1, 1)
    return flow.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
