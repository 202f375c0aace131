"""How well a classifier answers: its predictions on a set of clips, the confusion matrix, the
most confused class pairs and the counterfactual probes' summaries (synthetic_world.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


@dataclass(frozen=True)
class Evaluation:
    """Predictions of a model on one set of clips."""

    labels: np.ndarray
    predictions: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.predictions).mean()) if len(self.labels) else float("nan")


def evaluate(
    model: nn.Module,
    clips: Dataset,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> Evaluation:
    """Top-1 predictions of ``model`` (in eval mode, on ``device``) on every clip of ``clips``, a data
    set of (*inputs, label) items with a ``labels`` sequence (e.g. SyntheticClips)."""
    loader = DataLoader(clips, batch_size=batch_size, shuffle=False)
    predictions = []
    model.eval()
    with torch.inference_mode():
        for *inputs, _ in tqdm(loader, desc="predictions", disable=not progress, leave=False):
            predictions.append(model(*(x.to(device) for x in inputs)).argmax(dim=1).cpu().numpy())
    stacked = np.concatenate(predictions).astype(np.int64) if predictions else np.zeros(0, dtype=np.int64)
    return Evaluation(labels=np.asarray(clips.labels, dtype=np.int64), predictions=stacked)


def confusion_matrix(evaluation: Evaluation, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (evaluation.labels, evaluation.predictions), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, float | None]:
    """Each class's accuracy from a confusion matrix; None for a class without clips."""
    totals = matrix.sum(axis=1)
    return {c: float(matrix[i, i] / totals[i]) if totals[i] else None for i, c in enumerate(classes)}


def evaluate_sets(model: nn.Module, sets: Mapping[str, Dataset], **options) -> dict[str, Evaluation]:
    """:func:`evaluate` on each named set of clips (e.g. the probe sets); ``options`` as there."""
    return {name: evaluate(model, clips, **options) for name, clips in sets.items()}


def confused_pairs(matrix: np.ndarray, classes: tuple[str, ...]) -> list[dict]:
    """Unordered class pairs ranked by their mutual confusion (a->b rate + b->a rate)."""
    totals = matrix.sum(axis=1).clip(min=1)
    rates = matrix / totals[:, None]
    pairs = []
    for a in range(len(classes)):
        for b in range(a + 1, len(classes)):
            pairs.append(
                {
                    "classes": [classes[a], classes[b]],
                    "rate": float(rates[a, b] + rates[b, a]),
                    "a_as_b": float(rates[a, b]),
                    "b_as_a": float(rates[b, a]),
                }
            )
    return sorted(pairs, key=lambda p: -p["rate"])


def probe_record(name: str, probe: Evaluation, test: Evaluation, classes: Sequence[str]) -> dict:
    """One probe set's result: per probed class its accuracy against the clean test accuracy and
    where its clips went, plus the probe's summary numbers (see :func:`probe_summary`)."""
    per_class = {}
    for index in sorted(set(int(label) for label in probe.labels)):
        class_name = classes[index]
        predicted = probe.predictions[probe.labels == index]
        clean = test.predictions[test.labels == index]
        counts = np.bincount(predicted, minlength=len(classes))
        wrong = counts.copy()
        wrong[index] = 0
        per_class[class_name] = {
            "clips": int(len(predicted)),
            "accuracy": float((predicted == index).mean()) if len(predicted) else 0.0,
            "clean_accuracy": float((clean == index).mean()) if len(clean) else 0.0,
            "predicted_as": {classes[i]: int(c) for i, c in enumerate(counts) if c},
            "top_wrong_class": classes[int(wrong.argmax())] if wrong.sum() else None,
        }
    try:
        summary = probe_summary(name, per_class)
    except KeyError:  # a probe whose classes have no clips here
        summary = {}
    return {"accuracy": probe.accuracy, "per_class": per_class, **summary}


def probe_records(
    probes: Mapping[str, Evaluation], test: Evaluation, classes: Sequence[str]
) -> dict[str, dict]:
    """:func:`probe_record` of every probe set's predictions, by probe name."""
    return {name: probe_record(name, probe, test, classes) for name, probe in probes.items()}


def probe_summary(name: str, per_class: dict) -> dict:
    if name == "eyemakeup_blink":
        item = per_class["ApplyEyeMakeup"]
        errors = item["clips"] - item["predicted_as"].get("ApplyEyeMakeup", 0)
        to_lipstick = item["predicted_as"].get("ApplyLipstick", 0)
        return {
            "accuracy_drop_points": 100.0 * (item["clean_accuracy"] - item["accuracy"]),
            "errors_to_ApplyLipstick": to_lipstick / errors if errors else 0.0,
        }
    if name == "cello_violin_swap":
        cello, violin = per_class["PlayingCello"], per_class["PlayingViolin"]
        flipped = cello["predicted_as"].get("PlayingViolin", 0) + violin["predicted_as"].get(
            "PlayingCello", 0
        )
        return {"flipped_fraction": flipped / max(cello["clips"] + violin["clips"], 1)}
    return {}
