"""Heat-map overlays on the CPU: wall time and disk space per overlay, as the measure stage draws them.

    python bench/overlays_cpu.py [--units 6] [--output DIR] [--cache-dir DIR] [--save bench/results/overlays_cpu.txt]

The default model's statistics on the synthetic world's held-out clips are measured (or read from
DIR/statistics when cached there); then, for the first ``--units`` live units of one layer of each
tower and of the fusion, every clip their pages show (top clips and samples) gets its overlay, drawn
as the build draws them: one forward pass per clip and layer, maps upsampled in this process, drawn
and encoded in MEDIA_WORKERS processes. The time counted is the overlay step alone (the clips are
rendered into the cache before it); the space is the files it wrote (MP4, poster and record).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from engine_common import emit, header  # type: ignore[import-not-found]

from generator.config import load_config
from generator.pipeline.held_out import held_out_clips
from generator.pipeline.media_stage import MEDIA_WORKERS
from generator.pipeline.overlays import OVERLAY_DIR, write_overlays
from generator.pipeline.statistics import load_statistics
from generator.zoo import load

LAYERS = ("appearance/conv3_1", "motion/conv3_1", "fusion/conv4_fusion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=6, help="live units per layer")
    parser.add_argument("--output", type=Path, default=None, help="atlas folder (statistics cached there)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="data.cache_dir (rendered clips)")
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    output = args.output or Path(tempfile.mkdtemp(prefix="overlays_cpu_"))
    sets = {"output": str(output)} | ({"data.cache_dir": str(args.cache_dir)} if args.cache_dir else {})
    config = load_config(None, sets)
    loaded = load("default")
    desc = loaded.description
    cpu = torch.device("cpu")
    stats = load_statistics(loaded, config, output, cpu, progress=False)
    assert stats is not None, "the synthetic world does not feed the default model"
    layers = [name for name in LAYERS if name in desc.layer_names]
    units = []
    for layer in layers:
        live = [c for c, peak in enumerate(stats.layers[layer].peaks) if peak > 0][: args.units]
        units += [
            {"unit_id": desc.unit_id(layer, c), "layer": layer, "channel": c, "dead": False} for c in live
        ]
    clips = held_out_clips(config, stats.source, desc)
    clips.frames(0)  # the held-out clips rendered into the cache (as the statistics left them in a build)
    with tempfile.TemporaryDirectory(prefix="overlays_") as atlas:
        started = time.perf_counter()
        part = write_overlays(loaded, clips, stats, units, Path(atlas), cpu, progress=False)
        seconds = time.perf_counter() - started
        files = [p for p in Path(atlas).rglob("*") if p.is_file() and OVERLAY_DIR in p.parts]
        size = sum(p.stat().st_size for p in files)
    count = part.written
    lines = [
        header(cpu),
        f"layers: {', '.join(layers)}; {len(units)} units; {count} overlays written, {len(part.failed)} failed",
        f"workers: {MEDIA_WORKERS} drawing processes; torch threads: {torch.get_num_threads()}",
        f"wall time: {seconds:.1f} s, {1000 * seconds / max(1, count):.0f} ms per overlay",
        f"disk: {size / 1024:.0f} KiB, {size / 1024 / max(1, count):.1f} KiB per overlay (MP4, poster, record)",
    ]
    emit(lines, args.save)


if __name__ == "__main__":
    main()
