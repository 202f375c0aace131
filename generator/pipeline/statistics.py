"""Data statistics of the model on held-out clips of the synthetic world, cached per model.

They give the engine each unit's data maximum rho (the objective is normalised by it, as
in the paper) and give the measures class selectivity and top clips. Models whose inputs
or classes do not match the synthetic world have no data here: rho is then 1 for every
unit and data-driven measures are left empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from generator.config import AtlasConfig
from generator.measures.activations import LayerActivations, collect_activations
from generator.store.atomic import atomic_path
from generator.store.keys import digest
from generator.train import world_spec
from generator.world import CLASSES, SyntheticClips
from generator.zoo import LoadedModel

STATS_DIR = "statistics"


def world_matches(loaded: LoadedModel, config: AtlasConfig) -> bool:
    """Whether the synthetic world of ``config`` can feed this model (same classes and input shapes)."""
    desc = loaded.description
    names = tuple(spec.name for spec in desc.inputs)
    if tuple(desc.classes) != CLASSES or names != ("appearance", "motion"):
        return False
    app, mot = desc.inputs
    size = config.data.size
    return (app.height, app.width, mot.height, mot.width) == (size,) * 4 and mot.flow_fields == config.data.flow_fields


def data_statistics(
    loaded: LoadedModel,
    config: AtlasConfig,
    output: Path,
    device: torch.device,
    progress: bool = True,
) -> dict[str, LayerActivations] | None:
    """Statistics of every layer on the test split (None when the world does not fit the model)."""
    if not world_matches(loaded, config):
        return None
    data = config.data
    layers = loaded.description.layer_names
    key = digest({"model": loaded.model_hash, "data": data.model_dump(mode="json", exclude={"cache_dir"}),
                  "layers": layers, "top_k": config.site.top_clips})
    path = Path(output) / STATS_DIR / f"activations_{key}.npz"
    if path.is_file():
        return _load(path, layers)
    clips = SyntheticClips(world_spec(config), "test", data.test_clips_per_class, data.cache_dir, progress=progress)
    stats = collect_activations(
        loaded.model.to(device), loaded.description, clips, clips.labels, layers,
        top_k=config.site.top_clips, device=device, progress=progress,
    )
    _save(path, stats)
    return stats


def _save(path: Path, stats: dict[str, LayerActivations]) -> None:
    arrays = {}
    for i, item in enumerate(stats.values()):
        for field in ("class_means", "peaks", "top_clips", "top_values"):
            arrays[f"{i}/{field}"] = getattr(item, field)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def _load(path: Path, layers: tuple[str, ...]) -> dict[str, LayerActivations]:
    with np.load(path) as data:
        return {
            name: LayerActivations(
                layer=name,
                class_means=data[f"{i}/class_means"],
                peaks=data[f"{i}/peaks"],
                top_clips=data[f"{i}/top_clips"],
                top_values=data[f"{i}/top_values"],
            )
            for i, name in enumerate(layers)
        }
