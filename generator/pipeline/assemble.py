"""The measure stage: from stored visualizations and statistics to media, measures, tables, manifest.

Steps: find the selection's stored results; write the media of every finished
visualization (skipping media that exist); compute speed invariance (cached); build the
units and visualizations rows; draft the failure cases; write the media of every real
clip the tables and cases show (skipping existing ones); write the tables and the
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
from generator.data.source import source_record
from generator.measures.classification import (
    confused_pairs,
    confusion_matrix,
    per_class_accuracy,
    probe_records,
)
from generator.measures.status import OK, WEAK
from generator.pipeline.catalog import find_results
from generator.pipeline.failures import draft_failure_cases, finish_case
from generator.pipeline.held_out import held_out_clips
from generator.pipeline.interventions import InterventionAnswers, load_interventions, probe_unit_means
from generator.pipeline.media_stage import (
    MEDIA_WORKERS,
    ClipMediaJob,
    FolderClipMediaJob,
    ResultMediaJob,
    media_folder,
    run_media_jobs,
)
from generator.pipeline.overlays import OverlayPart, write_overlays
from generator.pipeline.select import Selection
from generator.pipeline.speed import speed_invariance
from generator.pipeline.statistics import DataStatistics, unit_scales
from generator.pipeline.tables_stage import (
    appearance_changes,
    class_rows,
    clip_sample_rows,
    confusion_rows,
    histogram_rows,
    read_stored,
    sampled_clips,
    top_clip_rows,
    top_clip_units,
    unit_rows,
    visualization_rows,
)
from generator.pipeline.tuning import tuning_responses, tuning_rows, tuning_summary
from generator.site.stats import drivers
from generator.store.manifest import make_manifest, manifest_path, write_manifest
from generator.store.parquet import write_table
from generator.store.schema import table_path
from generator.store.table_set import write_table_set
from generator.train import card_path, world_spec
from generator.world import SyntheticClips
from generator.zoo import LoadedModel


@dataclass(frozen=True)
class AssembleSummary:
    """What the measure stage found and wrote."""

    units: int
    visualizations: int
    failed: tuple[tuple[str, str], ...]  # failed visualizations: (what, reason)
    media_written: int
    media_cached: int
    clips_written: int
    clips_cached: int
    media_failed: tuple[tuple[str, str], ...]
    speed_invariance: bool
    manifest: Path
    seconds: dict[str, float] = field(default_factory=dict)
    ok: int = 0  # visualizations by status (the failed ones are in ``failed``)
    weak: int = 0
    overlays_written: int = 0  # heat-map overlays of where units fire in their shown clips
    overlays_cached: int = 0


@dataclass(frozen=True)
class Measuring:
    """What every step of the measure stage works with: model, configuration, atlas folder, device,
    statistics (None without data), progress bars and media worker processes."""

    loaded: LoadedModel
    config: AtlasConfig
    output: Path
    device: torch.device
    stats: DataStatistics | None
    progress: bool = True
    workers: int = MEDIA_WORKERS


@dataclass(frozen=True)
class UnitPart:
    """The units and visualizations rows of (a shard of) a selection, and what writing their media did."""

    units: list[dict]
    visualizations: list[dict]
    media_written: int
    media_cached: int
    media_failed: tuple[tuple[str, str], ...]
    speed_invariance: bool
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipPart:
    """Media paths of real clips by (split, index), None where writing failed, and what was written."""

    paths: dict[tuple[str, int], dict[str, str] | None]
    written: int
    cached: int
    failed: tuple[tuple[str, str], ...]


SHARED_UNITS = 3
"""Top shared units measured on probe clips against ordinary clips on each probe page."""


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
    run = Measuring(loaded, config, Path(output), device, stats, progress, workers)
    part = measure_units(run, selection)
    clock = time.perf_counter()
    card, drafts, jobs = failure_cases_and_clips(run, part.units)
    clips = write_clip_media(run, jobs)
    seconds = {**part.seconds, "clips": time.perf_counter() - clock}

    clock = time.perf_counter()
    overlays = clip_overlays(run, part.units)
    seconds["overlays"] = time.perf_counter() - clock

    clock = time.perf_counter()
    path = write_atlas(run, part.units, part.visualizations, clips.paths, card, drafts, overlays)
    seconds["tables"] = time.perf_counter() - clock
    return summarise(part.units, part.visualizations, [part], [clips], path, seconds, overlays)


def measure_units(run: Measuring, selection: Selection) -> UnitPart:
    """Write the media of every stored visualization of ``selection``; its units and visualizations rows."""
    loaded, config, output, device, stats = run.loaded, run.config, run.output, run.device, run.stats
    progress, workers = run.progress, run.workers
    desc = loaded.description
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    refs = find_results(loaded, config, selection, output, device)
    stored = [
        read_stored(ref)
        for ref in tqdm(refs, desc="read results", unit="result", disable=not progress, leave=False)
    ]
    seconds["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rgb = next((s for s in desc.inputs if s.kind == "rgb"), None)
    flow = next((s for s in desc.inputs if s.kind == "flow"), None)
    jobs = {
        item.ref.path: ResultMediaJob(
            result=item.ref.path,
            folder=media_folder(item.ref.unit_id),
            stem=item.ref.path.stem,
            rgb=rgb.name if rgb else None,
            flow=flow.name if flow else None,
            mean=tuple(rgb.mean) if rgb and rgb.mean is not None else None,
        )
        for item in stored
        if item.ok
    }
    vis_media = run_media_jobs(list(jobs.values()), output, workers, progress, desc="visualization media")
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
        stored,
        {path: vis_media.paths[job] for path, job in jobs.items()},
        peaks,
        output,
        flow.name if flow else None,
        scores={info.name for info in desc.layers if not info.rectified},
    )
    units = list(dict.fromkeys((ref.layer, ref.unit) for ref in refs))
    changes = appearance_changes(stored, vis_rows, rgb.name) if rgb else None
    tuning = tuning_summary(loaded, tuning_responses(loaded, device, output))
    u_rows = unit_rows(
        desc, units, vis_rows, stats, speed, config.visualize.chi, config.visualize.objective, changes, tuning
    )
    seconds["measures"] = time.perf_counter() - clock
    return UnitPart(
        u_rows, vis_rows, vis_media.written, vis_media.cached, vis_media.failed, speed is not None, seconds
    )


def failure_cases_and_clips(run: Measuring, units: list[dict]) -> tuple[dict[str, Any], list, dict]:
    """The model card, the failure-case drafts and the media job of every real clip that the
    top clips of ``units`` (all units of the selection) and the cases show."""
    stats = run.stats
    card = model_card(run.loaded, stats)
    drafts = []
    if stats is not None:
        classes = list(run.loaded.description.classes)
        index = {name: i for i, name in enumerate(classes)}

        def shared(a: str, b: str) -> list[str]:
            # Dead units are left out by drivers(), which reads the units table's `dead` flag.
            return [u["unit_id"] for u in drivers(units, index, a, b, count=SHARED_UNITS)["shared"]]

        def means(probe: str, twins: Any, unit_ids: list[str]) -> dict[str, dict[str, float]]:
            return probe_unit_means(run.loaded, run.config, run.device, probe, twins, unit_ids)

        answers = intervention_answers(run)
        drafts = draft_failure_cases(stats, classes, answers, shared, means)
    jobs = real_clip_jobs(run.config, stats, units, drafts) if stats is not None else {}
    return card, drafts, jobs


def write_clip_media(run: Measuring, jobs: dict) -> ClipPart:
    """Write the media of the real clips of ``jobs`` ((split, index) -> job) that do not exist yet."""
    outcome = run_media_jobs(list(jobs.values()), run.output, run.workers, run.progress, desc="clip media")
    paths = {key: outcome.paths[job] for key, job in jobs.items()}
    return ClipPart(paths, outcome.written, outcome.cached, outcome.failed)


def clip_overlays(run: Measuring, units: list[dict], share: tuple[int, int] = (0, 1)) -> OverlayPart:
    """Where each spatial unit fires in the real clips its page shows (see generator.pipeline.overlays);
    ``share`` (rank, world): this rank's round-robin share of the clips."""
    if run.stats is None or not run.config.site.clip_overlays:
        return OverlayPart({}, 0, 0, ())
    return write_overlays(
        run.loaded,
        held_out_clips(run.config, run.stats.source, run.loaded.description),
        run.stats,
        units,
        run.output,
        run.device,
        run.progress,
        run.workers,
        share,
    )


def intervention_answers(run: Measuring) -> InterventionAnswers:
    """The model's answers on the edited held-out clips (cached beside the statistics)."""
    assert run.stats is not None
    return load_interventions(run.loaded, run.config, run.output, run.device, run.stats, run.progress)


def table_metadata(loaded: LoadedModel, config: AtlasConfig) -> dict[str, str]:
    """The file metadata every table of this model and configuration carries."""
    return {"model_hash": loaded.model_hash, "config_hash": config_hash(config)}


def failed_visualizations(rows: list[dict]) -> tuple[tuple[str, str], ...]:
    """(what, reason) of every visualizations row that failed."""
    return tuple(
        (
            f"{r['unit_id']} chi={r['chi']:g} seed={r['seed']}{'' if r['view'] == 'joint' else ' ' + r['view']}",
            r["status"].removeprefix("failed: "),
        )
        for r in rows
        if r["status"].startswith("failed")
    )


def write_atlas(
    run: Measuring,
    u_rows: list[dict],
    vis_rows: list[dict],
    clip_paths: dict,
    card: dict[str, Any],
    drafts: list,
    overlays: OverlayPart | None = None,
) -> Path:
    """Write the tables and the manifest from every unit's rows and the real clips' media and overlays."""
    loaded, config, output, stats = run.loaded, run.config, run.output, run.stats
    desc = loaded.description
    metadata = table_metadata(loaded, config)
    where = overlays.overlays if overlays is not None else {}
    tables = {
        "units": u_rows,
        "visualizations": vis_rows,
        "classes": class_rows(desc, stats, intervention_answers(run) if stats is not None else None),
        "confusions": confusion_rows(desc, stats),
        "top_clips": top_clip_rows(desc, u_rows, stats, clip_paths, where),
        "activation_histograms": histogram_rows(u_rows, stats),
        "clip_samples": clip_sample_rows(desc, u_rows, stats, clip_paths, where),
        "tuning": tuning_rows(
            {(r["layer"], r["channel"]): r["unit_id"] for r in u_rows},
            tuning_responses(loaded, run.device, output),
        ),  # cached by measure_units
    }
    for name, rows in tables.items():
        write_table(name, rows, table_path(output, name), metadata)
    visualized = {row["layer"] for row in u_rows}
    failed = failed_visualizations(vis_rows)
    manifest = make_manifest(
        model={"name": desc.name, "hash": loaded.model_hash, "card": card},
        config=config.model_dump(mode="json"),
        config_hash=metadata["config_hash"],
        layers=[
            {
                "name": info.name,
                "kind": info.kind,
                "units": info.units,
                "depth": info.depth,
                "stride": info.stride,
                "receptive_field": info.receptive_field,
                "streams": list(info.streams),
                "input_size": max(
                    (spec.width for spec in desc.inputs if not info.streams or spec.name in info.streams),
                    default=None,
                ),
            }
            for info in desc.layers
            if info.name in visualized
        ],
        chis=config.visualize.chi,
        counts={
            "units": len(u_rows),
            "visualizations": len(vis_rows),
            "failed": len(failed),
            "weak": sum(r["status"] == "weak" for r in vis_rows),
            "classes": len(desc.classes),
            "top_clips": len(tables["top_clips"]),
            "failure_cases": len(drafts),
        },
        failure_cases=[finish_case(draft, clip_paths) for draft in drafts],
        data=data_record(stats, config),
    )
    path = write_manifest(manifest_path(output), manifest)
    write_table_set(output)  # last: only now are the tables and the manifest one finished set
    return path


def data_record(stats: DataStatistics | None, config: AtlasConfig) -> dict[str, Any]:
    """The manifest's record of the data source: for a data set on disk its file-list hash, the flow
    method, and every skipped clip with its reason (not the per-clip cache paths)."""
    if stats is None:
        return source_record(config, None)
    record = {k: v for k, v in stats.source.items() if k not in ("clips", "cache", "inputs", "input_kinds")}
    if record.get("source") == "folder" and stats.predicted:
        record["accuracy"] = (
            stats.test.accuracy
        )  # the card's figure is from the data the model was trained on
    return record


def summarise(
    u_rows: list[dict],
    vis_rows: list[dict],
    parts: list[UnitPart],
    clips: list[ClipPart],
    manifest: Path,
    seconds: dict[str, float],
    overlays: OverlayPart | None = None,
) -> AssembleSummary:
    """The summary of a measure stage whose units were measured in ``parts``, clips written in ``clips``
    and overlays drawn in ``overlays``."""
    return AssembleSummary(
        units=len(u_rows),
        visualizations=len(vis_rows),
        failed=failed_visualizations(vis_rows),
        media_written=sum(part.media_written for part in parts),
        media_cached=sum(part.media_cached for part in parts),
        clips_written=sum(clip.written for clip in clips),
        clips_cached=sum(clip.cached for clip in clips),
        overlays_written=overlays.written if overlays is not None else 0,
        overlays_cached=overlays.cached if overlays is not None else 0,
        media_failed=tuple(f for part in parts for f in part.media_failed)
        + tuple(f for c in clips for f in c.failed)
        + (overlays.failed if overlays is not None else ()),
        speed_invariance=all(part.speed_invariance for part in parts),
        manifest=manifest,
        seconds=seconds,
        ok=sum(r["status"] == OK for r in vis_rows),
        weak=sum(r["status"] == WEAK for r in vis_rows),
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
    if stats is not None and stats.predicted:
        classes = list(desc.classes)
        matrix = confusion_matrix(stats.test, len(classes))
        card.update(
            test_accuracy=stats.test.accuracy,
            per_class_accuracy=per_class_accuracy(matrix, classes),
            confusion_matrix=matrix.tolist(),
            most_confused_pairs=confused_pairs(matrix, tuple(classes))[:5],
            probes=probe_records(stats.probes, stats.test, classes),
        )
    return card


def real_clip_jobs(config: AtlasConfig, stats: DataStatistics, units: list[dict], drafts: list) -> dict:
    """(split, index) -> media job of every real clip that a top-clips row or a failure case shows."""
    spec = world_spec(config)
    data = config.data
    wanted: dict[tuple[str, int], None] = {}
    for unit in top_clip_units(units):
        for clip in stats.layers[unit["layer"]].top_clips[unit["channel"]]:
            wanted[("test", int(clip))] = None
    for samples in sampled_clips(units, stats).values():
        for _, clip, _ in samples:
            wanted[("test", clip)] = None
    for draft in drafts:
        for clip in draft.clips:
            wanted[(clip.split, clip.index)] = None
    if stats.source.get("source") == "folder":
        return folder_clip_jobs(stats.source, list(wanted))
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


def folder_clip_jobs(source: dict[str, Any], wanted: list[tuple[str, int]]) -> dict:
    """(split, index) -> media job of clips of a data set on disk (from their prepared cache folders)."""
    inputs = source.get("inputs", [])
    kinds = source.get("input_kinds", {})
    rgb = next((n for n in inputs if kinds.get(n) == "rgb"), None)
    flow = next((n for n in inputs if kinds.get(n) == "flow"), None)
    return {
        (split, index): FolderClipMediaJob(split, index, Path(source["cache"][index]), rgb, flow)
        for split, index in wanted
    }
