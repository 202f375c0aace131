"""``atlas train`` on a data set on disk: build the fusion network, train it through the recipe's
stages, and write its checkpoint and model card (rank 0) from the data set's test split."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist

from generator.config import AtlasConfig
from generator.data.dataset import FolderClips
from generator.data.snippets import ClipPlan
from generator.measures.classification import Evaluation
from generator.model_sources import FUSION_VGG16
from generator.store.atomic import write_json
from generator.train import card_path
from generator.training.card import device_name, folder_card
from generator.training.data import Splits, TrainingClips, split_listings
from generator.training.loop import Ranks, fit
from generator.zoo import save_checkpoint
from generator.zoo.fusion import TwoStreamFusionNet, fusion_vgg16, small_fusion


def build_network(config: AtlasConfig, classes: tuple[str, ...]) -> TwoStreamFusionNet:
    """The configured network with fresh heads (and, for fusion_vgg16, ImageNet towers with the
    motion tower's cross-modality conv1_1 and the fusion conv's identity-times-Gaussian init)."""
    recipe = config.train.recipe
    if recipe.network == FUSION_VGG16:
        return fusion_vgg16(
            num_classes=len(classes),
            flow_fields=recipe.flow_fields or 10,
            image_size=recipe.image_size or 224,
            classes=classes,
            tower_weights=recipe.tower_weights,
            width_multiplier=recipe.width_multiplier,
        )
    arch = config.train.architecture
    return small_fusion(
        num_classes=len(classes),
        flow_fields=recipe.flow_fields or config.data.flow_fields,
        image_size=recipe.image_size or config.data.size,
        widths=arch.widths,
        convs_per_block=arch.convs_per_block,
        fc=arch.fc,
        classes=classes,
    )


def training_device() -> torch.device:
    """This rank's GPU under torchrun (LOCAL_RANK), the GPU, or the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def join_ranks(device: torch.device) -> None:
    """Join torchrun's process group (nccl on GPUs, gloo on CPUs) when there is more than one rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def resume_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".resume.pt")


def evaluate_whole(model: TwoStreamFusionNet, clips: FolderClips, device: torch.device) -> Evaluation:
    """Predictions of the whole network (the two heads' mean) on every clip."""
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(clips), 32):
            items = [clips[i] for i in range(start, min(start + 32, len(clips)))]
            app, mot = (torch.stack([it[k] for it in items]).to(device) for k in (0, 1))
            predictions.append(model(app, mot).argmax(1).cpu().numpy())
    stacked = np.concatenate(predictions).astype(np.int64) if predictions else np.zeros(0, np.int64)
    return Evaluation(np.asarray(clips.labels, np.int64), stacked)


def train_on_folder(
    config: AtlasConfig,
    command: str = "atlas train",
    progress: bool = True,
    log: Callable[[str], None] = print,
    after_step: Callable[[int], None] | None = None,
) -> dict | None:
    """Train as configured; rank 0 writes the checkpoint and card and returns the card (None on other ranks)."""
    device = training_device()
    join_ranks(device)
    ranks = Ranks.current()
    splits: Splits = split_listings(config)
    folder, recipe = config.data.folder, config.train.recipe
    with torch.random.fork_rng(devices=[]):  # training seeds its own steps; the caller's RNG stays as it was
        torch.manual_seed(config.train.seed)
        model = build_network(config, splits.classes)
    inputs = tuple(model.describe().inputs)
    evaluation_plan = ClipPlan(inputs, folder.sampling.snippets, folder.flow, folder.raft_weights)
    cache = Path(config.data.cache_dir)
    show = progress and ranks.rank == 0
    train = TrainingClips(splits.train, inputs, config, splits.class_index, splits.classes, progress=show)
    held = [
        FolderClips(
            listing,
            evaluation_plan,
            cache,
            splits.class_index,
            splits.classes,
            workers=folder.workers,
            progress=show,
        )
        if listing.clips
        else None
        for listing in (splits.val, splits.test)
    ]
    val, test = held
    model.to(device)
    checkpoint = Path(config.train.checkpoint)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        history, seconds = fit(
            model,
            train,
            val,
            recipe,
            config.train.seed,
            resume_path(checkpoint),
            device,
            progress=show,
            log=log,
            after_step=after_step,
        )
    if ranks.rank != 0:
        return None
    result = evaluate_whole(model, test, device)
    architecture = model.architecture or {}
    skipped = {
        name: [{"path": s.path, "reason": s.reason} for s in clips.skipped]
        for name, clips in (("train", train.clips), ("val", val), ("test", test))
        if clips is not None
    }
    card = folder_card(
        result,
        splits,
        architecture,
        int(sum(p.numel() for p in model.parameters())),
        recipe.model_dump(mode="json"),
        history,
        seconds,
        device_name(device),
        ranks.world,
        config.model_dump(mode="json"),
        command,
        skipped,
    )
    save_checkpoint(
        checkpoint,
        model.cpu(),
        architecture,
        list(splits.classes),
        {"card": {k: card[k] for k in ("test_accuracy", "code_hash", "command")}},
    )
    write_json(card_path(checkpoint), card)
    resume_path(checkpoint).unlink(missing_ok=True)  # finished: a rerun trains afresh
    log(f"Model card written to {card_path(checkpoint)}")
    return card
