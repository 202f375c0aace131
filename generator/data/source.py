"""The held-out clips of a ``data.source: folder`` configuration, for a given model.

:func:`check_folder_source` lists the data set and matches its classes to the model's outputs
(the cheap checks that must stop a build before any work); :func:`folder_clips` then prepares
the clips. :func:`source_record` is what the manifest says about the data. A model without class
outputs is measured against the data set's own classes: labels index the data set's class list,
so class selectivity comes from the data set's labels (there are no predictions to score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.config import AtlasConfig
from generator.data.classes import map_classes
from generator.data.dataset import FolderClips, plan_settings, prepare_all
from generator.data.flow import flow_settings
from generator.data.layouts import Listing, list_clips
from generator.data.snippets import ClipPlan
from generator.errors import DataError
from generator.zoo import LoadedModel


@dataclass(frozen=True)
class CheckedSource:
    """A listed data set whose classes all map to the model's outputs (or, for a model without
    class outputs, to the data set's own class list: then ``predicts`` is False)."""

    listing: Listing
    class_index: dict[str, int]
    plan: ClipPlan
    class_names: tuple[str, ...]  # what labels index: the model's classes, else the data set's
    predicts: bool = True  # whether labels are the model's outputs, so its predictions can be scored


def clip_plan(loaded: LoadedModel, config: AtlasConfig, speed: float = 1.0) -> ClipPlan:
    """What every clip is prepared into for this model: its inputs, the snippets and the flow method."""
    folder = config.data.folder
    inputs = tuple(loaded.description.inputs)
    if folder.flow == "precomputed" and folder.layout != "frames" and any(s.kind == "flow" for s in inputs):
        raise DataError(
            f"data.folder.flow is 'precomputed' but the layout '{folder.layout}' has no flow images; "
            "use the frames layout, or flow 'tvl1' or 'raft'."
        )
    return ClipPlan(inputs, folder.sampling.snippets, folder.flow, folder.raft_weights, speed)


def check_folder_source(loaded: LoadedModel, config: AtlasConfig) -> CheckedSource:
    """List the data set and match its classes to the model (DataError on any problem); nothing is decoded."""
    folder = config.data.folder
    listing = list_clips(folder)
    model_classes = tuple(loaded.description.classes)
    plan = clip_plan(loaded, config)
    if not model_classes:  # class means by the data set's labels: selectivity without class outputs
        index = {name: i for i, name in enumerate(listing.classes)}
        return CheckedSource(listing, index, plan, tuple(listing.classes), predicts=False)
    return CheckedSource(
        listing, map_classes(listing.classes, model_classes, folder.class_map), plan, model_classes
    )


def folder_clips(
    loaded: LoadedModel, config: AtlasConfig, progress: bool = True, checked: CheckedSource | None = None
) -> FolderClips:
    """The prepared held-out clips of the configured data set, labelled with the model's classes (the
    data set's for a model without class outputs)."""
    source = checked or check_folder_source(loaded, config)
    folder = config.data.folder
    return FolderClips(
        source.listing,
        source.plan,
        config.data.cache_dir,
        source.class_index,
        source.class_names,
        workers=folder.workers,
        progress=progress,
    )


def prepare_share(
    loaded: LoadedModel, config: AtlasConfig, rank: int, world: int, progress: bool = True
) -> int:
    """Prepare (and cache) this rank's round-robin share of the data set's clips; how many were prepared now.

    Under torchrun every rank decodes and computes flow for its share; once all are done every clip
    is in the shared cache (see pipeline.statistics, where each rank then measures its share)."""
    checked = check_folder_source(loaded, config)
    mine = list(checked.listing.clips[rank::world])
    outcomes = prepare_all(mine, checked.plan, config.data.cache_dir, config.data.folder.workers, progress)
    return sum(out.computed for out in outcomes)


def source_key(checked: CheckedSource) -> dict[str, Any]:
    """What identifies the measured data in the statistics' cache key."""
    return {
        "files": checked.listing.file_list_hash(),
        "plan": plan_settings(checked.plan),
        "classes": checked.class_index,
    }


def source_record(config: AtlasConfig, clips: FolderClips | None) -> dict[str, Any]:
    """The manifest's description of the data source (and the clips skipped, with their reasons)."""
    if config.data.source != "folder":
        return {"source": "synthetic", "seed": config.data.seed}
    folder = config.data.folder
    record: dict[str, Any] = {
        "source": "folder",
        "root": str(folder.root),
        "layout": folder.layout,
        "split": folder.split,
        "subset": folder.subset,
        "flow": flow_settings(folder.flow, folder.raft_weights),
        "snippets": folder.sampling.snippets,
    }
    if clips is not None:
        record.update(
            file_list_hash=clips.listing.file_list_hash(),
            listed=len(clips.listing.clips),
            measured=len(clips),
            skipped=[{"path": s.path, "reason": s.reason} for s in clips.skipped],
        )
    return record
