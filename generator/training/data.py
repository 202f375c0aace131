"""Training clips from a data set on disk: T snippets tau apart, multi-scale corner crops and flips.

Each training clip is prepared once through the real-data-set reader (generator.data) into
``positions`` snippet positions spread evenly over the clip, stored at ``store_ratio`` x the input
side (256 px for a 224 input) in the paper's 8-bit flow coding, and cached. Every draw then picks
T of those positions ``tau`` apart, one crop (width and height each a scale of the stored side, at a
corner or the centre) for all frames and flow fields, resizes it to the input side, and flips it
horizontally with probability 1/2, negating the flow's u component. A draw's randomness comes only
from (seed, epoch, clip index), so any rank, worker or resumed run draws the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from generator.config import AtlasConfig, FolderDataConfig
from generator.data.dataset import FolderClips
from generator.data.layouts import Listing, list_clips
from generator.data.snippets import ClipPlan
from generator.world.flow import bytes_to_code
from generator.zoo.spec import InputSpec

CROP_POSITIONS = ("centre", "top_left", "top_right", "bottom_left", "bottom_right")


@dataclass(frozen=True)
class Splits:
    """The listed clips of a training run: train, validation (every n-th train clip) and test."""

    train: Listing
    val: Listing
    test: Listing
    classes: tuple[str, ...]  # the model's classes (data set names after class_map)
    class_index: dict[str, int]  # data set class -> model output


def split_listings(config: AtlasConfig) -> Splits:
    """List the train part (from train_root when given) and the test part of data.folder's split."""
    folder = config.data.folder
    recipe = config.train.recipe
    train_folder = folder.model_copy(update={"subset": "train", "root": recipe.train_root or folder.root})
    test_folder: FolderDataConfig = folder.model_copy(update={"subset": "test"})
    full, test = list_clips(train_folder), list_clips(test_folder)
    every = recipe.val_every
    train = Listing(
        full.root, full.classes, tuple(c for i, c in enumerate(full.clips) if i % every != every - 1)
    )
    val = Listing(
        full.root, full.classes, tuple(c for i, c in enumerate(full.clips) if i % every == every - 1)
    )
    classes = tuple(folder.class_map.get(c, c) for c in test.classes)
    index = {c: i for i, c in enumerate(test.classes)}
    return Splits(train, val, test, classes, index)


def training_plan(inputs: tuple[InputSpec, ...], config: AtlasConfig) -> ClipPlan:
    """The stored form of a training clip: every input at the stored side, ``positions`` snippets."""
    recipe, folder = config.train.recipe, config.data.folder
    side = store_side(inputs[0].height, recipe.store_ratio)
    stored = tuple(replace(spec, height=side, width=side) for spec in inputs)
    return ClipPlan(stored, recipe.positions, folder.flow, folder.raft_weights)


def store_side(image_size: int, ratio: float) -> int:
    return int(round(image_size * ratio))


def choose_snippets(
    rng: np.random.Generator, positions: int, snippets: int, tau: tuple[int, int]
) -> np.ndarray:
    """Indices of T stored positions ``tau`` apart (tau shrinks where a clip has too few positions)."""
    stride = int(rng.integers(tau[0], tau[1] + 1))
    if snippets > 1:
        stride = min(stride, max((positions - 1) // (snippets - 1), 0))
    span = stride * (snippets - 1)
    if span >= positions:  # fewer positions than snippets: repeat the last ones
        return np.minimum(np.arange(snippets) * stride, positions - 1)
    start = int(rng.integers(0, positions - span))
    return start + stride * np.arange(snippets)


@dataclass(frozen=True)
class Crop:
    """A crop box (top, left, height, width) on the stored side and whether it is flipped."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def choose_crop(rng: np.random.Generator, side: int, scales: tuple[float, ...]) -> Crop:
    """Multi-scale corner cropping: width and height each a scale of the side (at most one scale step
    apart, so the aspect stays near square), at one of the four corners or the centre."""
    i = int(rng.integers(len(scales)))
    j = int(np.clip(i + rng.integers(-1, 2), 0, len(scales) - 1))
    height, width = (max(1, int(round(side * scales[k]))) for k in (i, j))
    where = CROP_POSITIONS[int(rng.integers(len(CROP_POSITIONS)))]
    top = {"centre": (side - height) // 2, "top_left": 0, "top_right": 0}.get(where, side - height)
    left = {"centre": (side - width) // 2, "top_left": 0, "bottom_left": 0}.get(where, side - width)
    return Crop(top, left, height, width, bool(rng.integers(2)))


def augment(units: torch.Tensor, crop: Crop, size: int, flow: bool) -> torch.Tensor:
    """Crop (C, T, H, W) network units, resize to ``size``, flip; flow vectors scale with the resize and
    a flip negates u (the even channels u1, u2, ...)."""
    # contiguous: on a strided crop the CPU's bilinear kernel runs 25x slower (measured, 2 threads)
    x = units[:, :, crop.top : crop.top + crop.height, crop.left : crop.left + crop.width].contiguous()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if flow:
        scale = torch.ones(x.shape[0], 1, 1, 1)
        scale[0::2], scale[1::2] = size / crop.width, size / crop.height
        x = x * scale
    if crop.flip:
        x = x.flip(-1)
        if flow:
            x = x * torch.tensor([-1.0, 1.0]).repeat(x.shape[0] // 2)[:, None, None, None]
    return x


class TrainingClips:
    """The prepared training clips and the augmented draws from them."""

    def __init__(
        self,
        listing: Listing,
        inputs: tuple[InputSpec, ...],
        config: AtlasConfig,
        class_index: dict[str, int],
        classes: tuple[str, ...],
        progress: bool = True,
    ) -> None:
        self.inputs, self.recipe = inputs, config.train.recipe
        self.plan = training_plan(inputs, config)
        self.clips = FolderClips(
            listing,
            self.plan,
            Path(config.data.cache_dir),
            class_index,
            classes,
            workers=config.data.folder.workers,
            progress=progress,
        )
        self.labels = self.clips.labels

    def __len__(self) -> int:
        return len(self.clips)

    def draw(self, index: int, seed: int, epoch: int) -> tuple[torch.Tensor, ...]:
        """The augmented sample (inputs..., label) of clip ``index`` in ``epoch``."""
        rng = np.random.default_rng([seed, epoch, index])
        stored = self.clips.stored(index)
        picked = choose_snippets(rng, self.recipe.positions, self.recipe.snippets, self.recipe.tau_steps)
        crop = choose_crop(rng, self.plan.inputs[0].height, self.recipe.crop_scales)
        out = []
        for spec in self.inputs:
            raw = np.asarray(stored[spec.name])[:, picked]
            if spec.kind == "flow":
                units = torch.from_numpy(bytes_to_code(raw))
            else:
                units = torch.from_numpy(
                    raw.astype(np.float32) - np.asarray(spec.mean, np.float32)[:, None, None, None]
                )
            out.append(augment(units, crop, spec.height, spec.kind == "flow").contiguous())
        return (*out, int(self.labels[index]))


class EpochDraws(Dataset):
    """The draws of one epoch in a given order (a DataLoader over it needs no sampler)."""

    def __init__(self, clips: TrainingClips, order: list[int], seed: int, epoch: int) -> None:
        self.clips, self.order, self.seed, self.epoch = clips, order, seed, epoch

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> tuple:
        return self.clips.draw(self.order[i], self.seed, self.epoch)


def epoch_order(count: int, seed: int, stage: int, epoch: int) -> list[int]:
    """The clip order of an epoch: a permutation fixed by (seed, stage, epoch)."""
    generator = torch.Generator().manual_seed(draw_key(seed, stage, epoch))
    return torch.randperm(count, generator=generator).tolist()


def draw_key(seed: int, stage: int, epoch: int) -> int:
    """One integer for (seed, stage, epoch): seeds the epoch's order and names its draws."""
    return (seed * 1_000_003 + stage * 10_007 + epoch) & 0x7FFFFFFF
