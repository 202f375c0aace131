"""Held-out accuracy of the small fusion network trained by ``atlas train`` on the synthetic world
exported as a folder (``atlas world export``), beside the default model trained on the world directly.

    python bench/train_folder_accuracy.py [--size 64] [--train 250] [--test 60] [--epochs 14] [--joint]
        [--recipe-sampling] [--direct] [--work /tmp/folder-accuracy] [--save bench/results/train_folder_accuracy.txt]

The world is the default one (data.size, L = 4 flow fields, T = 3 snippets 4 frames apart); its train
split is exported with ``--train`` clips per class and its test split with ``--test`` (frames layout,
the exact flow in the paper's 8-bit JPEG coding). ``atlas train`` then trains train.architecture's
small_fusion through the recipe's three stages with the direct path's settings (AdamW, learning rate
train.learning_rate, weight decay train.weight_decay, batch train.batch_size, dropout 0.5, ``--epochs``
per stage) and draws T = 3 snippets as the world's clips hold them: 9 stored positions, one per frame
start, tau = snippet_gap = 4 positions apart, with the recipe's multi-scale corner crops and flips.
``--joint`` trains one end-to-end stage instead (train.recipe.stages [joint]), as the default model is
trained; ``--recipe-sampling`` keeps the recipe's snippets, positions and tau (T = 5 of 11 positions one
apart: on the world's 13-frame clips, snippets about one frame apart where the world's are four).
Every 10th exported training clip is held out for validation. ``--direct`` also trains the default
model on the world itself (generator.train.train_default) at the same size and clip counts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from engine_common import emit, header  # type: ignore[import-not-found]

from generator.config import AtlasConfig, load_config
from generator.data.export import export_world
from generator.train import train_default, world_spec
from generator.training.run import train_on_folder


def world_settings(size: int) -> dict:
    return {"data.size": size}


def folder_config(args: argparse.Namespace, work: Path) -> AtlasConfig:
    """``atlas train`` on the exported folders with the direct path's optimiser and the world's snippets."""
    base = load_config(None, world_settings(args.size))
    train = base.train
    stage = {"epochs": args.epochs, "learning_rate": train.learning_rate, "dropout": 0.5, "lr_steps": [0.7]}
    positions = base.data.snippet_gap * (base.data.snippets - 1) + 1  # every frame a snippet may start at
    sampling = {
        "train.recipe.snippets": base.data.snippets,
        "train.recipe.positions": positions,
        "train.recipe.tau_steps": [base.data.snippet_gap, base.data.snippet_gap],
    }
    return load_config(
        None,
        {
            **world_settings(args.size),
            "data.source": "folder",
            "data.folder.root": str(work / "test"),
            "data.folder.layout": "frames",
            "data.folder.flow": "precomputed",
            "data.folder.workers": args.workers,
            "data.folder.sampling.snippets": base.data.snippets,
            "data.cache_dir": str(work / "cache"),
            "train.recipe.train_root": str(work / "train"),
            "train.recipe.network": "small_fusion",
            "train.recipe.optimizer": "adamw",
            "train.recipe.weight_decay": train.weight_decay,
            "train.recipe.batch_size": train.batch_size,
            **({} if args.recipe_sampling else sampling),
            "train.recipe.appearance": stage,
            "train.recipe.motion": stage,
            "train.recipe.fusion": stage,
            "train.recipe.joint": stage,
            "train.recipe.stages": ["joint"] if args.joint else ["appearance", "motion", "fusion"],
            "train.recipe.loader_workers": args.loader_workers,
            "train.recipe.checkpoint_minutes": 1440.0,
            "train.checkpoint": str(work / "folder.pt"),
        },
    )


def direct_config(args: argparse.Namespace, work: Path) -> AtlasConfig:
    return load_config(
        None,
        {
            **world_settings(args.size),
            "data.train_clips_per_class": args.train,
            "data.test_clips_per_class": args.test,
            "data.probe_clips_per_class": 10,
            "data.cache_dir": str(work / "cache"),
            "train.epochs": args.epochs,
            "train.checkpoint": str(work / "direct.pt"),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--train", type=int, default=250, help="exported training clips per class")
    parser.add_argument("--test", type=int, default=60, help="exported test clips per class")
    parser.add_argument("--epochs", type=int, default=14, help="epochs of each stage (and of --direct)")
    parser.add_argument("--workers", type=int, default=2, help="processes preparing the clips")
    parser.add_argument("--loader-workers", type=int, default=1, help="processes drawing training samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument(
        "--recipe-sampling", action="store_true", help="keep the recipe's snippets, positions and tau"
    )
    parser.add_argument(
        "--joint",
        action="store_true",
        help="one end-to-end stage (train.recipe.stages [joint]), as the direct path",
    )
    parser.add_argument("--direct", action="store_true", help="also train on the world directly")
    parser.add_argument("--work", type=Path, default=Path("/tmp/folder-accuracy"))
    parser.add_argument("--save", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args()
    # One thread each for the training step and the draws' worker: on 2 shared cores two OpenMP
    # threads per process wait on each other (a draw measured 10x slower).
    torch.set_num_threads(args.threads)
    lines = [header(torch.device("cpu"))]
    config = folder_config(args, args.work)
    spec = world_spec(config)
    started = time.monotonic()
    for split, count in (("train", args.train), ("test", args.test)):
        export_world(spec, split, count, args.work / "cache", args.work / split, "frames", progress=True)
    lines.append(
        f"world: {spec.size} px, L = {spec.flow_fields}, T = {spec.snippets} snippets {spec.snippet_gap} frames "
        f"apart; exported {args.train} train and {args.test} test clips per class "
        f"({time.monotonic() - started:.0f} s)"
    )
    recipe = config.train.recipe
    lines.append(
        f"folder: small_fusion, stages {', '.join(recipe.stages)}, {args.epochs} epochs each, AdamW lr "
        f"{recipe.appearance.learning_rate:g} (x{recipe.lr_gamma:g} at 70 %), weight decay {recipe.weight_decay:g}, "
        f"batch {recipe.batch_size}, dropout {recipe.appearance.dropout:g}; T = {recipe.snippets} of "
        f"{recipe.positions} positions, tau {recipe.tau_steps[0]} positions; crops {list(recipe.crop_scales)} of "
        f"{recipe.store_ratio:.3f} x the side, flips; every {recipe.val_every}th train clip for validation"
    )
    card = train_on_folder(config, command="atlas train (bench/train_folder_accuracy.py)", progress=True)
    assert card is not None
    lines.append(
        f"folder path: held-out accuracy {100 * card['test_accuracy']:.1f} % on {card['test_clips']} test clips "
        f"({card['data']['clips']['train']} trained, {card['data']['clips']['val']} validation), "
        f"trained in {card['training_seconds']:.0f} s; most confused: {card['most_confused_pairs'][:3]}"
    )
    if args.direct:
        direct = train_default(direct_config(args, args.work), progress=True)
        lines.append(
            f"direct path (train_default, {args.train} train / {args.test} test clips per class, {args.epochs} "
            f"epochs): held-out accuracy {100 * direct['test_accuracy']:.1f} %, trained in "
            f"{direct['training_seconds']:.0f} s"
        )
    emit(lines, args.save)


if __name__ == "__main__":
    main()
