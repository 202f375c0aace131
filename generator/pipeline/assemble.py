"""The measure stage: from stored visualisations and statistics to media, measures, tables, manifest.

Steps: find the selection's stored results; write the media of every finished
visualisation (skipping media that exist); compute speed invariance (cached); build the
units and visualizations rows; draft the failure cases; write the media of every real
clip the tables and cases show (skipping existing ones); write the five tables and the
manifest. Media are written once; tables and manifest are always rewritten from what is
stored (cheap, atomic), so they always describe exactly what is on disk.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from generator.config import AtlasConfig, config_hash
from generator.pipeline.catalog import find_results
from generator.pipeline.failures import draft_failure_cases, finish_case, probe_record
from generator.pipeline.media_stage import (
    MEDIA_WORKERS,
    ClipMediaJob,
    ResultMediaJob,
    media_folder,
    run_media_jobs,
)
from generator.pipeline.select import Selection
from generator.pipeline.speed import speed_invariance
from generator.pipeline.statistics import DataStatistics, unit_scales
from generator.pipeline.tables_stage import (
    class_rows,
    confusion_rows,
    read_stored,
    top_clip_rows,
    top_clip_units,
    unit_rows,
    visualization_rows,
)
from generator.store.tables import make_manifest, manifest_path, table_path, write_manifest, write_table
from generator.train import card_path, confused_pairs, confusion_matrix, world_spec
from generator.world import SyntheticClips
from generator.zoo import LoadedModel


@dataclass(frozen=True)
class AssembleSummary:
    """What the measure stage found and wrote."""

    units: int
    visualizations: int
    failed: tuple[tuple[str, str], ...]  # failed visualisations: (what, reason)
    media_written: int
    media_cached: int
    clips_written: int
    clips_cached: int
    media_failed: tuple[tuple[str, str], ...]
    speed_invariance: bool
    manifest: Path
    seconds: dict[str, float] = field(default_factory=dict)


def assemble(
    loaded: LoadedModel,
    config: AtlasConfig,
    selection: Selection,
    output: Path,
    device: torch.device,
    stats: DataStatistics | None,
    progress: bool = True,
    workers: int = MEDIA_WORKERS,
) -> AssembleSummary:
    """Write media, measures, tables and manifest for everything of ``selection`` stored in ``output``."""
    output = Path(output)
    desc = loaded.description
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    refs = find_results(loaded, config, selection, output, device)
    stored = [read_stored(ref) for ref in tqdm(refs, desc="read results", unit="result", disable=not progress,
                                               leave=False)]  # fmt: skip
    seconds["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rgb = next((s for s in desc.inputs if s.kind == "rgb"), None)
    flow = next((s for s in desc.inputs if s.kind == "flow"), None)
    jobs = {
        item.ref.path: ResultMediaJob(
            result=item.ref.path, folder=media_folder(item.ref.unit_id), stem=item.ref.path.stem,
            rgb=rgb.name if rgb else None, flow=flow.name if flow else None,
            mean=tuple(rgb.mean) if rgb and rgb.mean is not None else None,
        )
        for item in stored if item.ok
    }  # fmt: skip
    vis_media = run_media_jobs(list(jobs.values()), output, workers, progress, desc="visualisation media")
    seconds["media"] = time.perf_counter() - clock

    clock = time.perf_counter()
    speed = speed_invariance(loaded, config, stats, output, device, progress) if stats is not None else None
    seconds["speed"] = time.perf_counter() - clock

    clock = time.perf_counter()
    peaks: dict[str, float | None] = {}
    if stats is not None:
        scales = unit_scales(stats, loaded, config.visualize.objective)
        for layer, units in selection.layers:
            for unit in units:
                peaks[desc.unit_id(layer, unit)] = float(scales[layer][unit])
    vis_rows = visualization_rows(
        stored, {path: vis_media.paths[job] for path, job in jobs.items()}, peaks, output, flow.name if flow else None
    )
    units = list(dict.fromkeys((ref.layer, ref.unit) for ref in refs))
    u_rows = unit_rows(desc, units, vis_rows, stats, speed, config.visualize.chi, config.visualize.objective)
    card = model_card(loaded, stats)
    drafts = draft_failure_cases(stats, list(desc.classes), card) if stats is not None else []
    seconds["measures"] = time.perf_counter() - clock

    clock = time.perf_counter()
    clip_jobs = _clip_jobs(config, stats, u_rows, drafts) if stats is not None else {}
    clip_media = run_media_jobs(list(clip_jobs.values()), output, workers, progress, desc="clip media")
    clip_paths = {key: clip_media.paths[job] for key, job in clip_jobs.items()}
    seconds["clips"] = time.perf_counter() - clock

    clock = time.perf_counter()
    hash_ = config_hash(config)
    metadata = {"model_hash": loaded.model_hash, "config_hash": hash_}
    tables = {
        "units": u_rows,
        "visualizations": vis_rows,
        "classes": class_rows(desc, stats),
        "confusions": confusion_rows(desc, stats),
        "top_clips": top_clip_rows(desc, u_rows, stats, clip_paths),
    }
    for name, rows in tables.items():
        write_table(name, rows, table_path(output, name), metadata)
    visualised = {layer for layer, _ in units}
    failed = tuple(
        (f"{r['unit_id']} chi={r['chi']:g} seed={r['seed']}", r["status"].removeprefix("failed: "))
        for r in vis_rows if r["status"] != "ok"
    )  # fmt: skip
    manifest = make_manifest(
        model={"name": desc.name, "hash": loaded.model_hash, "card": card},
        config=config.model_dump(mode="json"),
        config_hash=hash_,
        layers=[
            {"name": info.name, "kind": info.kind, "units": info.units, "depth": info.depth, "stride": info.stride,
             "receptive_field": info.receptive_field, "streams": list(info.streams)}
            for info in desc.layers if info.name in visualised
        ],  # fmt: skip
        chis=config.visualize.chi,
        counts={
            "units": len(u_rows),
            "visualizations": len(vis_rows),
            "failed": len(failed),
            "classes": len(desc.classes),
            "top_clips": len(tables["top_clips"]),
            "failure_cases": len(drafts),
        },
        failure_cases=[finish_case(draft, clip_paths) for draft in drafts],
    )
    path = write_manifest(manifest_path(output), manifest)
    seconds["tables"] = time.perf_counter() - clock
    return AssembleSummary(
        units=len(u_rows),
        visualizations=len(vis_rows),
        failed=failed,
        media_written=vis_media.written,
        media_cached=vis_media.cached,
        clips_written=clip_media.written,
        clips_cached=clip_media.cached,
        media_failed=vis_media.failed + clip_media.failed,
        speed_invariance=speed is not None,
        manifest=path,
        seconds=seconds,
    )


def model_card(loaded: LoadedModel, stats: DataStatistics | None) -> dict[str, Any]:
    """The model card written beside the checkpoint, else a minimal record (with held-out numbers when known)."""
    if loaded.checkpoint is not None and card_path(loaded.checkpoint).is_file():
        return json.loads(card_path(loaded.checkpoint).read_text(encoding="utf-8"))
    desc = loaded.description
    card: dict[str, Any] = {
        "model": desc.name,
        "architecture": json.loads(json.dumps(loaded.architecture, default=str)),
        "parameters": int(sum(p.numel() for p in loaded.model.parameters())),
        "classes": list(desc.classes),
        "note": "No model card was written for this model (atlas train writes one); numbers measured by atlas measure.",
    }
    if stats is not None:
        classes = list(desc.classes)
        matrix = confusion_matrix(stats.test, len(classes))
        card.update(
            test_accuracy=stats.test.accuracy,
            per_class_accuracy={c: float(matrix[i, i] / max(matrix[i].sum(), 1)) for i, c in enumerate(classes)},
            confusion_matrix=matrix.tolist(),
            most_confused_pairs=confused_pairs(matrix, tuple(classes))[:5],
            probes={name: probe_record(name, ev, stats.test, classes) for name, ev in stats.probes.items()},
        )
    return card


def _clip_jobs(config: AtlasConfig, stats: DataStatistics, units: list[dict], drafts: list) -> dict:
    """(split, index) -> media job of every real clip that a top-clips row or a failure case shows."""
    spec = world_spec(config)
    data = config.data
    wanted: dict[tuple[str, int], None] = {}
    for unit in top_clip_units(units):
        for clip in stats.layers[unit["layer"]].top_clips[unit["channel"]]:
            wanted[("test", int(clip))] = None
    for draft in drafts:
        for clip in draft.clips:
            wanted[(clip.split, clip.index)] = None
    sets: dict[str, SyntheticClips] = {}
    jobs = {}
    for split, index in wanted:
        if split not in sets:
            count = data.test_clips_per_class if split == "test" else data.probe_clips_per_class
            sets[split] = SyntheticClips(spec, split, count, data.cache_dir, progress=False)
        clips = sets[split]
        jobs[(split, index)] = ClipMediaJob(
            split, index, clips.clip_classes[index], int(clips.seeds[index]), clips.probe, spec
        )
    return jobs
