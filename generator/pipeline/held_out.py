"""The held-out clips that the overlays are drawn on, one source per ``data.source``.

A source answers, for held-out clip ``i`` (the index the statistics' top clips and samples use):
its display frames (the frames its clip media show), the display frame that each time step of a
layer's input stands at, and its network inputs (exactly what the statistics measured). For the
synthetic world the frames are the whole rendered clip and the steps stand at the world's snippet
starts; for a data set on disk they are the snippets the network saw, read from the clip's prepared
cache folder (the folder clip's media show the same frames), so the steps stand at each snippet's
place in that row of frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from generator.config import AtlasConfig
from generator.data.cache import load_inputs, read_entry
from generator.data.dataset import clip_tensors
from generator.data.decode import ClipError
from generator.media.frames import motion_frames
from generator.world.flow import bytes_to_code
from generator.zoo.spec import InputSpec, LayerInfo, ModelDescription

SPLIT = "test"  # the held-out clips that top clips and samples index


class HeldOutClips(Protocol):
    """What drawing a unit's overlay on a held-out clip needs from the data."""

    def frames(self, index: int) -> np.ndarray:
        """uint8 (F, H, W, 3): the frames the clip's media show, which the overlay is drawn over."""
        ...

    def starts(self, layer: LayerInfo) -> tuple[float, ...]:
        """The display frame each time step of ``layer``'s input stands at (a snippet's first frame)."""
        ...

    def inputs(self, index: int) -> list[torch.Tensor]:
        """The clip's network inputs, each (channels, frames, height, width) in network units."""
        ...


@dataclass(frozen=True)
class SyntheticHeldOut:
    """The synthetic world's held-out clips, re-rendered (cached) as the statistics saw them."""

    config: AtlasConfig

    @cached_property
    def _clips(self) -> Any:
        from generator.train import world_spec
        from generator.world import SyntheticClips

        data = self.config.data
        return SyntheticClips(
            world_spec(self.config), SPLIT, data.test_clips_per_class, data.cache_dir, progress=False
        )

    def frames(self, index: int) -> np.ndarray:
        return self._clips.clip(index).frames

    def starts(self, layer: LayerInfo) -> tuple[float, ...]:
        from generator.train import world_spec
        from generator.world.inputs import snippet_starts

        return tuple(float(s) for s in snippet_starts(world_spec(self.config)))

    def inputs(self, index: int) -> list[torch.Tensor]:
        return list(self._clips[index][:-1])


@dataclass(frozen=True)
class FolderHeldOut:
    """The held-out clips of a data set on disk, from the prepared cache folders the statistics measured
    (``cache``, by clip index). The display frames are the stored snippet frames of the first RGB input
    (the flow's colour-wheel frames for a model without one), as the clip media show them."""

    cache: tuple[Path, ...]
    inputs_of: tuple[InputSpec, ...]  # the model's inputs, in order
    snippets: int
    _display: InputSpec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rgb = [s for s in self.inputs_of if s.kind == "rgb"]
        object.__setattr__(self, "_display", (rgb or list(self.inputs_of))[0])

    def _stored(self, index: int, names: list[str]) -> dict[str, np.ndarray]:
        if not 0 <= index < len(self.cache):
            raise ClipError(f"clip {index} is not one of the {len(self.cache)} measured clips")
        folder = self.cache[index]
        entry = read_entry(folder)
        if entry is None or not entry.get("ok") or not set(names) <= set(entry.get("inputs", [])):
            raise ClipError(f"the prepared clip {folder} is gone or incomplete (rerun to prepare it again)")
        return load_inputs(folder, names)

    def frames(self, index: int) -> np.ndarray:
        spec = self._display
        stored = self._stored(index, [spec.name])[spec.name]
        if spec.kind == "rgb":
            return np.ascontiguousarray(np.asarray(stored).transpose(1, 2, 3, 0))  # (T, H, W, 3)
        return motion_frames(bytes_to_code(stored), "colorwheel")  # (T*L, H, W, 3), the clip's colorwheel

    def starts(self, layer: LayerInfo) -> tuple[float, ...]:
        seen = [s for s in self.inputs_of if s.name in layer.streams] or list(self.inputs_of)
        spec = seen[0]
        steps = spec.frames if spec.kind == "rgb" else 1  # input time steps per snippet
        shown = self._display.frames if self._display.kind == "rgb" else self._display.flow_fields
        return tuple(
            snippet * shown + step * shown / steps
            for snippet in range(self.snippets)
            for step in range(steps)
        )

    def inputs(self, index: int) -> list[torch.Tensor]:
        return list(clip_tensors(self._stored(index, [s.name for s in self.inputs_of]), self.inputs_of))


def held_out_clips(
    config: AtlasConfig, source: dict[str, Any], description: ModelDescription
) -> HeldOutClips:
    """The held-out clips of the statistics' data ``source`` (DataStatistics.source)."""
    if source.get("source", "synthetic") == "folder":
        return FolderHeldOut(
            tuple(Path(p) for p in source.get("cache", [])),
            tuple(description.inputs),
            int(source.get("snippets", config.data.folder.sampling.snippets)),
        )
    return SyntheticHeldOut(config)
