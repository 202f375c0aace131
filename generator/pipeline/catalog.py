"""Which visualizations of a selection are stored: the (unit, chi, seed) results on disk.

A result is found by its key (model hash, settings, unit, chi, seed), exactly as the
visualization stage stored it. The key records whether bf16 was used, which depends on the
device the results were computed on; results made on a GPU are therefore also found when
measuring on a CPU machine (the current device's variant is preferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from generator.config import AtlasConfig
from generator.pipeline.select import Selection
from generator.pipeline.views import JOINT, layer_views, view_identity
from generator.pipeline.visualize import engine_settings, settings_identity
from generator.store.keys import result_key
from generator.store.results import result_file, stored_status
from generator.zoo import LoadedModel


@dataclass(frozen=True)
class StoredRef:
    """One stored result of the selection."""

    layer: str
    unit: int
    unit_id: str
    chi: float
    seed: int
    path: Path
    view: str = JOINT  # see pipeline.views


def identities(config: AtlasConfig, device: torch.device) -> list[dict]:
    """The settings identities a result of this configuration may be stored under, preferred first."""
    own = settings_identity(engine_settings(config.visualize), device)
    other = {**own, "bf16": not own["bf16"]}
    return [own, other]


def find_results(
    loaded: LoadedModel,
    config: AtlasConfig,
    selection: Selection,
    output: Path,
    device: torch.device,
    remove_damaged: bool = True,
) -> list[StoredRef]:
    """Every stored result of the selection at the configured chi values and seeds, in selection order.
    A damaged file is left out (and logged); ``remove_damaged`` also deletes it, to be recomputed."""
    desc = loaded.description
    variants = identities(config, device)
    found = []
    for layer, units in selection.layers:
        views = layer_views(desc.layer(layer), desc, config.visualize.stream_views)
        for unit in units:
            unit_id = desc.unit_id(layer, unit)
            for view in views:
                for chi in config.visualize.chi:
                    for seed in config.visualize.seeds:
                        for identity in variants:
                            key = result_key(
                                loaded.model_hash, view_identity(identity, view), unit_id, chi, seed
                            )
                            path = result_file(output, unit_id, chi, seed, key)
                            if stored_status(path, remove=remove_damaged) is not None:
                                found.append(
                                    StoredRef(layer, unit, unit_id, float(chi), int(seed), path, view)
                                )
                                break
    return found
