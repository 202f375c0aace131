"""Data set throughput on the CPU: decoding and TV-L1 flow, projected to UCF101 split 1's test set,
and the accuracy gap between TV-L1 and exact flow on the exported synthetic world.

    python bench/data_cpu.py [--clips 6] [--per-class 5] [--save bench/results/data_cpu.txt]

* Decode: UCF101-shaped videos (320x240, 25 fps, 175 frames = UCF101's mean of 7.2 s), H.264,
  a textured scene panning under a moving square, decoded by generator.data.decode.read_video.
* Preparation (decode + fit + TV-L1 + 8-bit coding + cache write), through the atlas's own
  prepare_all with 2 worker processes, for two models: the paper's VGG-16 fusion (224 px,
  L = 10 flow fields) and the default model (64 px, L = 4), 3 snippets per clip. The UCF101
  projection multiplies the measured seconds per clip by 3,783 clips.
* Accuracy: the default model on the exported world's test clips (``--per-class`` per class)
  as an MP4 ucf101 data set with TV-L1 flow computed by the atlas, beside the frames layout with
  exact flow (8-bit coded) and the model card's figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from engine_common import emit, header  # type: ignore[import-not-found]

from generator.config import load_config
from generator.data.dataset import prepare_all
from generator.data.decode import read_video
from generator.data.export import export_world
from generator.data.layouts import ClipEntry
from generator.data.snippets import ClipPlan
from generator.data.source import folder_clips
from generator.media.video import write_mp4
from generator.pipeline.statistics import load_statistics
from generator.train import card_path, world_spec
from generator.world.inputs import RGB_MEAN
from generator.zoo import load
from generator.zoo.spec import InputSpec

UCF101_SPLIT1_TEST = 3783
FRAMES, HEIGHT, WIDTH = 175, 240, 320


def ucf_like_video(path: Path, rng: np.random.Generator) -> None:
    """A panning textured background with a square moving across it."""
    base = rng.integers(0, 255, size=(HEIGHT // 8, (WIDTH + FRAMES * 2) // 8 + 1, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
    frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(FRAMES):
        frame = texture[:, 2 * t : 2 * t + WIDTH].copy()
        x = (40 + 3 * t) % (WIDTH - 40)
        frame[100:140, x : x + 40] = (220, 40, 40)
        frames[t] = frame
    write_mp4(frames, path, fps=25, crf=18, min_seconds=0.0)


def plan_for(size: int, flow_fields: int) -> ClipPlan:
    inputs = (
        InputSpec("appearance", "rgb", 3, 1, size, size, RGB_MEAN),
        InputSpec("motion", "flow", 2 * flow_fields, 1, size, size, None),
    )
    return ClipPlan(inputs, 3, "tvl1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="UCF101-shaped videos to time")
    parser.add_argument(
        "--per-class", type=int, default=5, help="exported clips per class for the accuracy gap"
    )
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    lines = [header(torch.device("cpu"))]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        videos = []
        for i in range(args.clips):
            path = tmp / "videos" / f"v_Bench_g01_c{i + 1:02d}.mp4"
            ucf_like_video(path, rng)
            videos.append(path)
        read_video(videos[0])  # ffmpeg into the page cache
        clock = time.perf_counter()
        for path in videos:
            read_video(path)
        decode = time.perf_counter() - clock
        lines.append(
            f"decode: {args.clips} videos of {FRAMES} frames {WIDTH}x{HEIGHT} (H.264), one process: "
            f"{args.clips / decode:.2f} clips/s, {args.clips * FRAMES / decode:.0f} frames/s"
        )
        entries = [ClipEntry(path, "Bench") for path in videos]
        for name, size, fields in (
            ("VGG-16 fusion (224 px, L=10)", 224, 10),
            ("default (64 px, L=4)", 64, 4),
        ):
            plan = plan_for(size, fields)
            clock = time.perf_counter()
            prepare_all(entries, plan, tmp / f"cache{size}", workers=2, progress=False)
            seconds = time.perf_counter() - clock
            per_clip = seconds / args.clips
            pairs = args.clips * plan.snippets * fields
            lines.append(
                f"prepare with TV-L1, {name}, 3 snippets, 2 workers: {args.clips / seconds:.3f} clips/s, "
                f"{pairs / seconds:.1f} flow fields/s; UCF101 split 1 test set ({UCF101_SPLIT1_TEST} clips): "
                f"{UCF101_SPLIT1_TEST * per_clip / 3600:.1f} h"
            )

        lines.append(accuracy_gap(tmp, args.per_class))
    emit(lines, args.save)


def accuracy_gap(tmp: Path, per_class: int) -> str:
    """The default model's held-out accuracy on the exported world: TV-L1 on MP4s against exact flow."""
    base = {"data.test_clips_per_class": per_class, "data.cache_dir": str(tmp / "world")}
    spec = world_spec(load_config(None, base))
    export_world(spec, "test", per_class, tmp / "world", tmp / "ucf", "ucf101", progress=False)
    export_world(spec, "test", per_class, tmp / "world", tmp / "frames", "frames", progress=False)
    loaded = load("default")
    results = {}
    for name, layout, flow in (
        ("frames, exact flow", "frames", "precomputed"),
        ("ucf101 MP4, TV-L1", "ucf101", "tvl1"),
    ):
        root = tmp / ("frames" if layout == "frames" else "ucf")
        config = load_config(
            None,
            {
                **base,
                "data.source": "folder",
                "data.folder.root": str(root),
                "data.folder.layout": layout,
                "data.folder.flow": flow,
            },
        )
        clock = time.perf_counter()
        stats = load_statistics(loaded, config, tmp / f"out_{layout}", torch.device("cpu"), progress=False)
        results[name] = (stats.test.accuracy, time.perf_counter() - clock)
    card = (
        json.loads(card_path(loaded.checkpoint).read_text())["test_accuracy"] if loaded.checkpoint else None
    )
    parts = [
        f"{name} {acc:.1%} ({seconds:.0f} s incl. preparation)" for name, (acc, seconds) in results.items()
    ]
    gap = results["frames, exact flow"][0] - results["ucf101 MP4, TV-L1"][0]
    return (
        f"default model, {per_class} exported test clips per class: "
        + "; ".join(parts)
        + f"; model card {card:.1%}; TV-L1 gap {gap * 100:.1f} points\n"
        + flow_difference(loaded, base, tmp)
    )


def flow_difference(loaded, base: dict, tmp: Path) -> str:
    """How the atlas's TV-L1 codes on the MP4s differ from the exact 8-bit codes of the same clips."""
    codes = {}
    for layout, flow in (("frames", "precomputed"), ("ucf101", "tvl1")):
        root = tmp / ("frames" if layout == "frames" else "ucf")
        config = load_config(
            None,
            {
                **base,
                "data.source": "folder",
                "data.folder.root": str(root),
                "data.folder.layout": layout,
                "data.folder.flow": flow,
            },
        )
        clips = folder_clips(loaded, config, progress=False)
        codes[layout] = [clips[i][1].numpy() for i in range(len(clips))]
    exact, tvl1 = (
        np.concatenate([c.ravel() for c in codes["frames"]]),
        np.concatenate([c.ravel() for c in codes["ucf101"]]),
    )
    still, moving = exact == 0, np.abs(exact) > 8  # moving: more than 8 codes, about 1.25 px
    return (
        f"TV-L1 codes against exact ones: {np.mean(tvl1[still] != 0):.0%} of still pixels get a non-zero code; "
        f"where the exact flow exceeds 1.25 px, TV-L1's mean magnitude is {np.abs(tvl1[moving]).mean() / np.abs(exact[moving]).mean():.0%} of it"
    )


if __name__ == "__main__":
    main()
