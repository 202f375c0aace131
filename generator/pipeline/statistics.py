"""Data statistics of the model on held-out clips (of the synthetic world, or of a data set on disk
when ``data.source`` is ``folder``), cached per model.

They give the engine each unit's data maximum rho (the objective is normalized by it, as
in the paper) and give the measures class selectivity and top clips. The same cache file
holds the model's predictions on the test split and on every probe set, which the
classes, confusions and top-clips tables and the failure cases need. Models whose inputs
or classes do not match the synthetic world have no data here: rho is then 1 for every
unit and data-driven measures are left empty. A data set on disk feeds the same function
(measures.activations.measure_share) through generator.data.FolderClips; it has no probe sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator.config import AtlasConfig
from generator.data.source import (
    CheckedSource,
    check_folder_source,
    folder_clips,
    prepare_share,
    source_key,
    source_record,
)
from generator.engine.objectives import objective_mode
from generator.errors import DataError
from generator.measures.activations import LayerActivations, measure_share, merge_shares, objective_peaks
from generator.measures.classification import Evaluation
from generator.pipeline.distributed import SINGLE, Cluster, barrier, gather, main_first, shard
from generator.store.atomic import atomic_path
from generator.store.keys import digest
from generator.store.verify import Log, npz_problem, sound
from generator.train import world_spec
from generator.world import CLASSES, PROBES, SyntheticClips
from generator.world.dataset import world_code_digest
from generator.zoo import LoadedModel

STATS_DIR = "statistics"
# What the statistics reduce (measures.activations): the rectified response, top clips by its
# spatial maximum. Part of the cache key, so statistics of an earlier definition are measured afresh.
RESPONSE = "rectified; top clips by spatial max"
_FIELDS = ("class_means", "peaks", "mean_peaks", "top_clips", "top_values", "clip_means")


@dataclass(frozen=True)
class DataStatistics:
    """Everything measured on real clips: per-layer activation statistics and predictions."""

    layers: dict[str, LayerActivations]
    test: Evaluation  # the test split, in SyntheticClips order
    probes: dict[str, Evaluation]  # probe name -> its probe set (labels are the true classes)
    key: str  # identifies model, data and top-k; later caches derived from these statistics use it
    source: dict[str, Any] = field(default_factory=lambda: {"source": "synthetic"})  # see data.source_record
    # The classes that labels and class means index: the model's, or for a model without class outputs
    # the data set's; only then are there no predictions (``predicted`` is False).
    classes: tuple[str, ...] = ()

    @property
    def predicted(self) -> bool:
        """Whether the model's predictions were scored (it has class outputs that the labels name)."""
        return len(self.test.predictions) == len(self.test.labels)


def world_matches(loaded: LoadedModel, config: AtlasConfig) -> bool:
    """Whether the synthetic world of ``config`` can feed this model (same classes and input shapes)."""
    desc = loaded.description
    names = tuple(spec.name for spec in desc.inputs)
    if tuple(desc.classes) != CLASSES or names != ("appearance", "motion"):
        return False
    app, mot = desc.inputs
    size = config.data.size
    return (app.height, app.width, mot.height, mot.width) == (
        size,
    ) * 4 and mot.flow_fields == config.data.flow_fields


def statistics_key(loaded: LoadedModel, config: AtlasConfig, folder: CheckedSource | None = None) -> str:
    """The cache key of the statistics of this model on this configuration's data (and the world's code,
    so that clips rendered differently are measured afresh; for a data set on disk, its file list, the
    way clips are prepared and the flow method; and what the statistics reduce, RESPONSE)."""
    payload = {
        "model": loaded.model_hash,
        "layers": loaded.description.layer_names,
        "top_k": config.site.top_clips,
        "response": RESPONSE,
    }
    if folder is None:
        data = config.data.model_dump(mode="json", exclude={"cache_dir", "source", "folder"})
        return digest({**payload, "data": data, "world": world_code_digest()})
    settings = config.data.folder.model_dump(
        mode="json", exclude={"workers"}
    )  # workers do not change numbers
    return digest({**payload, "folder": settings, "source": source_key(folder)})


def statistics_path(output: Path, key: str) -> Path:
    return Path(output) / STATS_DIR / f"activations_{key}.npz"


def load_statistics(
    loaded: LoadedModel,
    config: AtlasConfig,
    output: Path,
    device: torch.device,
    progress: bool = True,
    cluster: Cluster = SINGLE,
    log: Log | None = None,
) -> DataStatistics | None:
    """Statistics and predictions on held-out clips, computed once and cached (None without a fitting world).

    For a data set on disk its classes are matched to the model first: a mismatch stops here, before
    any clip is decoded. Under torchrun (``cluster``) every rank prepares and measures its share of the
    clips and every rank merges the shares (see measures.activations.merge_shares): the numbers of one
    process, to float precision. Rank 0 writes the cache; every rank returns the statistics."""
    folder = check_folder_source(loaded, config) if config.data.source == "folder" else None
    if folder is None and not world_matches(loaded, config):
        return None
    probe_names = () if folder is not None else tuple(PROBES)
    key = statistics_key(loaded, config, folder)
    path = statistics_path(output, key)
    layers = loaded.description.layer_names
    # Rank 0 removes a damaged file (to recompute it) before the others look.
    arrays = main_first(cluster, lambda: _read(path) if sound(path, npz_problem) else {})
    complete = _complete(arrays, len(layers), probe_names)
    if not all(gather(cluster, complete)):  # every rank takes the same branch
        arrays = _measure(loaded, config, folder, probe_names, device, progress, cluster, log)
        if cluster.is_main:
            _write(path, arrays)
        barrier(cluster)
    return _statistics(arrays, loaded, config, key, probe_names)


def cached_statistics(loaded: LoadedModel, config: AtlasConfig, output: Path) -> DataStatistics | None:
    """The statistics of this model and data when they are cached whole in ``output``, else None; nothing
    is measured, written or removed (a dry run's look)."""
    try:
        folder = check_folder_source(loaded, config) if config.data.source == "folder" else None
    except DataError:
        return None
    if folder is None and not world_matches(loaded, config):
        return None
    probe_names = () if folder is not None else tuple(PROBES)
    key = statistics_key(loaded, config, folder)
    path = statistics_path(output, key)
    if not sound(path, npz_problem, remove=False):
        return None
    arrays = _read(path)
    complete = _complete(arrays, len(loaded.description.layer_names), probe_names)
    return _statistics(arrays, loaded, config, key, probe_names) if complete else None


def _complete(arrays: dict[str, np.ndarray], layers: int, probe_names: tuple[str, ...]) -> bool:
    """Whether a cache file's ``arrays`` hold every field of every layer and every prediction."""
    return all(f"{i}/{field}" in arrays for i in range(layers) for field in _FIELDS) and all(
        k in arrays for k in _prediction_keys(probe_names)
    )


def _statistics(
    arrays: dict[str, np.ndarray],
    loaded: LoadedModel,
    config: AtlasConfig,
    key: str,
    probe_names: tuple[str, ...],
) -> DataStatistics:
    """The statistics held in a cache file's ``arrays`` (complete: every field of every layer)."""
    return DataStatistics(
        layers={
            name: LayerActivations(layer=name, **{field: arrays[f"{i}/{field}"] for field in _FIELDS})
            for i, name in enumerate(loaded.description.layer_names)
        },
        test=Evaluation(labels=arrays["test/labels"], predictions=arrays["test/predictions"]),
        probes={
            name: Evaluation(
                labels=arrays[f"probe/{name}/labels"], predictions=arrays[f"probe/{name}/predictions"]
            )
            for name in probe_names
        },
        key=key,
        source=json.loads(str(arrays["source"])) if "source" in arrays else source_record(config, None),
        classes=tuple(json.loads(str(arrays["classes"])))
        if "classes" in arrays
        else loaded.description.classes,
    )


def _measure(
    loaded: LoadedModel,
    config: AtlasConfig,
    folder: CheckedSource | None,
    probe_names: tuple[str, ...],
    device: torch.device,
    progress: bool,
    cluster: Cluster,
    log: Log | None,
) -> dict[str, np.ndarray]:
    """Every array of the statistics file, each rank measuring its share of every set of clips."""
    data, spec = config.data, world_spec(config)
    if folder is not None:
        if cluster.distributed:  # decoding and flow of this rank's share; then every clip is in the cache
            prepare_share(loaded, config, cluster.rank, cluster.world, progress=progress)
            barrier(cluster)
        test = folder_clips(loaded, config, progress=progress, checked=folder)
    else:  # rank 0 renders the clips into the cache, the others read them there
        test = main_first(
            cluster,
            lambda: SyntheticClips(
                spec, "test", data.test_clips_per_class, data.cache_dir, progress=progress
            ),
        )
    model = loaded.model.to(device)
    layers = loaded.description.layer_names
    top_k = config.site.top_clips

    def measured(clips: Any, what: str, layers: list[str]) -> tuple[dict[str, LayerActivations], np.ndarray]:
        mine = shard(range(len(clips)), cluster.rank, cluster.world)
        share = measure_share(
            model,
            loaded.description,
            clips,
            mine,
            layers,
            len(clips.class_names),
            top_k=top_k,
            predict=folder is None or folder.predicts,
            device=device,
            progress=progress,
        )
        if cluster.distributed and log is not None:
            log(f"{cluster.tag} measured {share.forwarded} of {len(clips)} {what} clips")
        return merge_shares(gather(cluster, share), top_k)

    stats, predictions = measured(test, "test", layers)
    arrays = {
        f"{i}/{field}": getattr(item, field) for i, item in enumerate(stats.values()) for field in _FIELDS
    }
    arrays["source"] = np.array(json.dumps(_source(config, test)))
    arrays["classes"] = np.array(json.dumps(list(test.class_names)))
    arrays["test/labels"], arrays["test/predictions"] = np.asarray(test.labels, dtype=np.int64), predictions
    for name in probe_names:
        probe = main_first(
            cluster,
            lambda name=name: SyntheticClips(
                spec, f"probe:{name}", data.probe_clips_per_class, data.cache_dir, progress=progress
            ),
        )
        arrays[f"probe/{name}/labels"] = np.asarray(probe.labels, dtype=np.int64)
        arrays[f"probe/{name}/predictions"] = measured(probe, f"probe:{name}", [])[1]
    return arrays


def data_statistics(
    loaded: LoadedModel,
    config: AtlasConfig,
    output: Path,
    device: torch.device,
    progress: bool = True,
) -> dict[str, LayerActivations] | None:
    """Statistics of every layer on the test split (None when the world does not fit the model)."""
    bundle = load_statistics(loaded, config, output, device, progress=progress)
    return None if bundle is None else bundle.layers


def _source(config: AtlasConfig, test: Any) -> dict[str, Any]:
    """The data source's record, with (for a data set on disk) each measured clip's name and cache folder."""
    if config.data.source != "folder":
        return source_record(config, None)
    return {
        **source_record(config, test),
        "clips": list(test.names),
        "cache": [str(f) for f in test.folders],
        "inputs": [spec.name for spec in test.plan.inputs],
        "input_kinds": {spec.name: spec.kind for spec in test.plan.inputs},
    }


def _prediction_keys(probe_names: tuple[str, ...]) -> list[str]:
    keys = ["test/labels", "test/predictions"]
    for name in probe_names:
        keys += [f"probe/{name}/labels", f"probe/{name}/predictions"]
    return keys


def _read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def unit_scales(stats: DataStatistics, loaded: LoadedModel, objective: str) -> dict[str, np.ndarray]:
    """rho per layer and unit: the data maximum of the quantity the engine maximises there."""
    desc = loaded.description
    return {
        name: objective_peaks(item, objective_mode(desc.layer(name), objective))
        for name, item in stats.layers.items()
    }
