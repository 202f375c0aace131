"""The model card of a network trained on a data set on disk, from the data set's test split."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np
import torch

import generator
from generator.measures.classification import Evaluation, confused_pairs, confusion_matrix, per_class_accuracy
from generator.train import CARD_FORMAT, code_hash
from generator.training.data import Splits
from generator.training.recipe import SOURCES


def device_name(device: torch.device) -> str:
    """The device in words, e.g. 'cuda: NVIDIA H200' or 'cpu: 2 threads'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {torch.get_num_threads()} threads ({platform.processor() or platform.machine()})"


def folder_card(
    test: Evaluation,
    splits: Splits,
    architecture: dict,
    parameters: int,
    recipe: dict,
    history: list[dict],
    seconds: float,
    device: str,
    ranks: int,
    config: dict,
    command: str,
    skipped: dict[str, list[dict]],
) -> dict[str, Any]:
    """Per-class accuracy, confusion matrix and most confused pairs on the test split, with the data set's
    identity (file list hashes), the recipe and its sources, the training time and the device."""
    classes = splits.classes
    matrix = confusion_matrix(test, len(classes))
    return {
        "format": CARD_FORMAT,
        "model": architecture["builder"],
        "architecture": architecture,
        "parameters": parameters,
        "classes": list(classes),
        "test_clips": int(len(test.labels)),
        "test_accuracy": test.accuracy,
        "per_class_accuracy": per_class_accuracy(matrix, classes),
        "confusion_matrix": matrix.tolist(),
        "most_confused_pairs": confused_pairs(matrix, classes)[:5],
        "history": history,
        "training_seconds": round(seconds, 3),  # a tiny run takes well under 0.1 s
        "device": device,
        "ranks": ranks,
        "recipe": recipe,
        "recipe_sources": SOURCES,
        "data": {
            "root": str(splits.test.root),
            "train_root": str(splits.train.root),
            "file_list_hash": {
                "train": splits.train.file_list_hash(),
                "val": splits.val.file_list_hash(),
                "test": splits.test.file_list_hash(),
            },
            "clips": {
                "train": len(splits.train.clips),
                "val": len(splits.val.clips),
                "test": len(splits.test.clips),
            },
            "skipped": skipped,
        },
        "command": command,
        "config": config,
        "code_hash": code_hash(),
        "versions": {
            "atlas": generator.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
