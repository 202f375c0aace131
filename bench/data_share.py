"""The data stage's share of an ``atlas build`` on the exported synthetic world.

    python bench/data_share.py [--per-class 2] [--classes JumpingJack,Swing,Billiards] [--workers 2] [--save FILE]

The world's test clips are exported as a data set on disk twice: MP4s in the ucf101 layout (the
atlas decodes them and computes TV-L1 flow) and JPEG frames with exact flow in the frames layout
(the atlas only decodes). For each, one small ``atlas build`` runs in this process from an empty
data cache and an empty output folder (``max_units_per_layer=2``, 40 steps, 2 chi values). The data
stage is every call of the atlas's clip preparation (decode, fit to the model's inputs, TV-L1,
8-bit coding, cache write; for the held-out clips and for the speed replays), timed where it is
called; the report gives its seconds, the whole build's and the ratio. ``--workers`` is
data.folder.workers: above 1 every preparation call starts a pool of spawned processes, whose
start-up (each imports torch) weighs on a small build.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from engine_common import emit, header  # type: ignore[import-not-found]

import generator.data.dataset as dataset_module
import generator.data.source as source_module
import generator.pipeline.speed as speed_module
from generator.cli import app
from generator.config import load_config
from generator.data.export import export_world
from generator.train import world_spec

# Every module that calls the clip preparation by its own name for it.
CALLERS = (dataset_module, source_module, speed_module)


class StageClock:
    """Wall seconds spent inside ``prepare_all`` wherever the atlas calls it (calls do not nest)."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self.original: Callable = dataset_module.prepare_all

    def timed(self, *args, **kwargs):
        clock = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - clock
            self.calls += 1

    def __enter__(self) -> StageClock:
        for module in CALLERS:
            module.prepare_all = self.timed
        return self

    def __exit__(self, *_exc) -> None:
        for module in CALLERS:
            module.prepare_all = self.original


def build(
    tmp: Path, name: str, root: Path, layout: str, flow: str, classes: list[str], workers: int
) -> tuple[float, float, int]:
    """(whole build seconds, data stage seconds, prepare calls) of one small build from empty caches."""
    sets = [
        "data.source=folder",
        f"data.folder.root={root}",
        f"data.folder.layout={layout}",
        f"data.folder.flow={flow}",
        f"data.folder.classes=[{', '.join(classes)}]",
        f"data.folder.workers={workers}",
        f"data.cache_dir={tmp / f'cache_{name}'}",
        "max_units_per_layer=2",
        "visualize.steps=40",
        "visualize.chi=[1.0, 10.0]",
    ]
    args = ["build", "--output", str(tmp / f"atlas_{name}"), *[i for s in sets for i in ("--set", s)]]
    with StageClock() as stage:
        clock = time.perf_counter()
        app(args, standalone_mode=False)
        whole = time.perf_counter() - clock
    return whole, stage.seconds, stage.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=2, help="exported test clips per class")
    parser.add_argument("--classes", default="JumpingJack,Swing,Billiards", help="classes measured")
    parser.add_argument("--workers", type=int, default=2, help="data.folder.workers (preparing processes)")
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    classes = args.classes.split(",")
    lines = [header(torch.device("cpu"))]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        spec = world_spec(load_config(None, {}))
        export_world(spec, "test", args.per_class, tmp / "world", tmp / "ucf", "ucf101", progress=False)
        export_world(spec, "test", args.per_class, tmp / "world", tmp / "frames", "frames", progress=False)
        clips = args.per_class * len(classes)
        for name, root, layout, flow in (
            ("ucf101 MP4, TV-L1 flow computed", tmp / "ucf", "ucf101", "tvl1"),
            ("frames JPEGs, exact flow", tmp / "frames", "frames", "precomputed"),
        ):
            whole, data, calls = build(tmp, layout, root, layout, flow, classes, args.workers)
            lines.append(
                f"{name}: {clips} clips ({', '.join(classes)}), {args.workers} preparing workers, build {whole:.1f} s, data stage "
                f"(decode + flow + cache, {calls} preparation calls) {data:.1f} s = {data / whole:.0%} of the build"
            )
    emit(lines, args.save)


if __name__ == "__main__":
    main()
