"""Training the default two-stream fusion network on the synthetic world, and its model card.

How well the network answers (predictions, confusion matrix, confused pairs, probe records) is
measured by generator/measures/classification.py.

``train_default`` is reproducible from the configuration's seeds: the same configuration on
the same torch build gives the same weights. It writes the checkpoint and a JSON model card
(accuracy, confusion matrix, the probe results, the command, configuration and hashes).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import generator
from generator.config import AtlasConfig
from generator.measures.classification import (
    confused_pairs,
    confusion_matrix,
    evaluate,
    evaluate_sets,
    per_class_accuracy,
    probe_records,
)
from generator.store.atomic import write_json
from generator.world import CLASSES, PROBES, SyntheticClips, WorldSpec
from generator.world.classes import TUNING as WORLD_TUNING
from generator.world.dataset import world_code_digest
from generator.zoo import save_checkpoint, small_fusion

CARD_FORMAT = "atlas-model-card/1"


def world_spec(config: AtlasConfig) -> WorldSpec:
    """The synthetic world described by the ``data`` section."""
    data = config.data
    return WorldSpec(
        size=data.size,
        flow_fields=data.flow_fields,
        snippets=data.snippets,
        snippet_gap=data.snippet_gap,
        speed_range=tuple(data.speed_range),
        flow_noise=data.flow_noise,
        seed=data.seed,
    )


def default_architecture(config: AtlasConfig) -> dict:
    """The builder name and arguments of the default network, as stored in its checkpoint."""
    arch = config.train.architecture
    return {
        "builder": "small_fusion",
        "kwargs": {
            "num_classes": len(CLASSES),
            "flow_fields": config.data.flow_fields,
            "image_size": config.data.size,
            "widths": list(arch.widths),
            "convs_per_block": arch.convs_per_block,
            "fc": arch.fc,
            "classes": list(CLASSES),
        },
    }


def probe_sets(spec: WorldSpec, config: AtlasConfig) -> dict[str, SyntheticClips]:
    """The world's counterfactual probe sets (synthetic_world.md), by probe name."""
    count, cache = config.data.probe_clips_per_class, config.data.cache_dir
    return {name: SyntheticClips(spec, f"probe:{name}", count, cache) for name in PROBES}


def code_hash() -> str:
    """sha256 of the package's Python sources, so a card names the code that trained the model."""
    root = Path(generator.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def train_default(
    config: AtlasConfig,
    command: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train the default network as configured; write its checkpoint and model card; return the card."""
    spec = world_spec(config)
    data = config.data
    train_set = SyntheticClips(spec, "train", data.train_clips_per_class, data.cache_dir)
    val_set = SyntheticClips(spec, "val", data.val_clips_per_class, data.cache_dir)
    test_set = SyntheticClips(spec, "test", data.test_clips_per_class, data.cache_dir)

    architecture = default_architecture(config)
    started = time.time()
    with torch.random.fork_rng(devices=[]):
        # Seeds only inside this block, so training leaves the caller's random state alone.
        torch.manual_seed(config.train.seed)
        model = small_fusion(**architecture["kwargs"])
        best_state, history = _fit(model, train_set, val_set, config, progress, log)
    model.load_state_dict(best_state)
    model.eval()

    test = evaluate(model, test_set)
    matrix = confusion_matrix(test, len(CLASSES))
    pairs = confused_pairs(matrix, CLASSES)
    card = {
        "format": CARD_FORMAT,
        "model": "small_fusion (default)",
        "architecture": architecture,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "classes": list(CLASSES),
        "test_accuracy": test.accuracy,
        "per_class_accuracy": per_class_accuracy(matrix, CLASSES),
        "confusion_matrix": matrix.tolist(),
        "most_confused_pairs": pairs[:5],
        "probes": probe_records(evaluate_sets(model, probe_sets(spec, config)), test, CLASSES),
        "history": history,
        "training_seconds": round(time.time() - started, 1),
        "command": command or "atlas train",
        "config": config.model_dump(mode="json"),
        "config_hash": synthetic_training_hash(config),
        "data": {
            "world": spec.__dict__ | {"speed_range": list(spec.speed_range)},
            "hash": _data_hash(spec, config),
            "tuning": list(WORLD_TUNING),
        },
        "code_hash": code_hash(),
        "versions": {
            "atlas": generator.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    checkpoint = Path(config.train.checkpoint)
    save_checkpoint(checkpoint, model, architecture, list(CLASSES), {"card": _card_summary(card)})
    write_json(card_path(checkpoint), card)
    log(f"Held-out accuracy {100 * card['test_accuracy']:.1f} %; checkpoint written to {checkpoint}")
    return card


def card_path(checkpoint: Path) -> Path:
    """Where the model card of ``checkpoint`` lives."""
    return Path(checkpoint).with_suffix(".card.json")


def _fit(
    model: nn.Module,
    train_set: SyntheticClips,
    val_set: SyntheticClips,
    config: AtlasConfig,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[dict, list[dict]]:
    """Adam with cosine decay; keeps the weights of the best validation epoch."""
    settings = config.train
    generator_ = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(
        train_set, batch_size=settings.batch_size, shuffle=True, generator=generator_, drop_last=False
    )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total_steps = settings.epochs * len(loader)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=settings.learning_rate, total_steps=max(total_steps, 1), pct_start=0.15
    )
    loss_fn = nn.CrossEntropyLoss()
    history: list[dict] = []
    best_accuracy, best_state = -1.0, None
    bar = tqdm(total=total_steps, desc="train", unit="batch", disable=not progress, dynamic_ncols=True)
    for epoch in range(settings.epochs):
        model.train()
        running, seen = 0.0, 0
        for appearance, motion, labels in loader:
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(appearance, motion), labels)
            loss.backward()
            optimiser.step()
            schedule.step()
            running += loss.item() * len(labels)
            seen += len(labels)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{running / seen:.3f}")
        val = evaluate(model, val_set)
        history.append(
            {"epoch": epoch + 1, "train_loss": running / max(seen, 1), "val_accuracy": val.accuracy}
        )
        if not progress:
            log(f"epoch {epoch + 1}: loss {running / max(seen, 1):.3f}, val accuracy {val.accuracy:.3f}")
        if val.accuracy > best_accuracy:
            best_accuracy = val.accuracy
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    bar.close()
    return best_state, history


# Read only when the data come from a folder on disk: they do not shape a model trained on the world.
FOLDER_ONLY_FIELDS = {"data": ("source", "folder"), "train": ("recipe",)}


def _synthetic_sections(config: AtlasConfig) -> dict:
    """The data and train sections as a model trained on the synthetic world depends on them."""
    dumped = config.model_dump(mode="json")
    sections = {name: dict(dumped[name]) for name in FOLDER_ONLY_FIELDS}
    for name, fields in FOLDER_ONLY_FIELDS.items():
        for field in fields:
            sections[name].pop(field, None)
    return sections


def synthetic_training_hash(config: AtlasConfig) -> str:
    """The configuration hash of a model trained on the synthetic world (the model card's
    ``config_hash``): the data and train sections less the fields only a folder source reads, so
    that settings added for data sets on disk leave the default model's hash as it was."""
    blob = json.dumps(_synthetic_sections(config), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _data_hash(spec: WorldSpec, config: AtlasConfig) -> str:
    counts = _synthetic_sections(config)["data"]
    counts.pop("cache_dir")
    blob = json.dumps(
        {"spec": repr(spec), "counts": counts, "world": world_code_digest()}, sort_keys=True
    ).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _card_summary(card: dict) -> dict:
    """The few card fields kept inside the checkpoint itself."""
    return {k: card[k] for k in ("test_accuracy", "config_hash", "code_hash", "command")}


def command_line() -> str:
    """The command that is running, as a user would type it."""
    return " ".join(["atlas", *sys.argv[1:]])
