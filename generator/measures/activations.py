"""One pass over held-out clips that records, for every unit of the chosen layers, what the
measures need: class-conditional mean responses, the largest response and the top clips.

Every quantity is of the RECTIFIED response, the one the engine's objective maximises: the
output of the ReLU that follows the layer (``LayerInfo.rectified``, with the trained
network's own slope), so none of them is negative for a ReLU network. Per clip, a
convolutional unit's rectified response is reduced over snippets and positions:
* ``mean``: its spatial (and temporal) average, the quantity class selectivity is defined on
  (Morcos et al.); it is also the channel-mean objective of fusion units, so the largest
  ``mean`` over clips (``mean_peaks``) is their rho;
* ``peak``: its largest value at any position, the data maximum rho of a centre-neuron
  objective (any position stands for the centre, since the network is translation
  equivariant); top clips are ranked by it (method.md: "ranked by the rectified response's
  spatial maximum").
For fc units both are the rectified value. For the class layer the per-clip response is the
softmax probability (``mean``, so that selectivity compares non-negative quantities) and the
pre-softmax score (``peak``), the quantity class outputs are optimised for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from generator.zoo.capture import recording
from generator.zoo.spec import LayerInfo, ModelDescription


@dataclass(frozen=True)
class LayerActivations:
    """Per-unit statistics of one layer over a labelled set of clips (see the module doc)."""

    layer: str
    class_means: np.ndarray  # (classes, units): mean per-clip ``mean`` response by true class
    peaks: np.ndarray  # (units,): largest per-clip ``peak`` response (rho of a centre objective)
    mean_peaks: np.ndarray  # (units,): largest per-clip ``mean`` response (rho of a channel-mean objective)
    top_clips: np.ndarray  # (units, k): clip indices, largest ``peak`` first
    top_values: np.ndarray  # (units, k): their ``peak`` responses (spatial maximum of the rectified response)
    clip_means: np.ndarray | None = (
        None  # (clips, units): every clip's ``mean`` response (histograms, quantiles)
    )


def reduce_response(
    response: torch.Tensor, layer: LayerInfo, batch: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, peak, mean peak) per clip and unit, each (batch, units), from a layer's raw hook
    output; ``mean peak`` equals ``mean`` except for the class layer (see the module doc)."""
    if layer.kind == "class":
        return response.softmax(dim=1), response, response
    rectified = layer.rectify(response, layer.own_slope)
    if layer.kind == "fc":
        return rectified, rectified, rectified
    if layer.kind == "conv2d":
        # Tower layers fold snippets into the batch: (B*T, C, h, w) -> (B, C, T*h*w).
        flat = rectified.reshape(batch, -1, *rectified.shape[1:]).transpose(1, 2).flatten(2)
    else:  # conv3d: (B, C, T, h, w)
        flat = rectified.flatten(2)
    mean = flat.mean(dim=2)
    return mean, flat.amax(dim=2), mean


def collect_activations(
    model: nn.Module,
    description: ModelDescription,
    clips: Dataset,
    labels: np.ndarray,
    layers: Iterable[str],
    top_k: int = 8,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, LayerActivations]:
    """Run ``model`` once over ``clips`` and gather every selected layer's statistics."""
    infos = [description.layer(name) for name in layers]
    num_classes = len(description.classes)
    sums = {i.name: np.zeros((num_classes, i.units)) for i in infos}
    peaks = {i.name: np.full(i.units, -np.inf) for i in infos}
    mean_peaks = {i.name: np.full(i.units, -np.inf) for i in infos}
    means_per_clip: dict[str, list[np.ndarray]] = {i.name: [] for i in infos}
    peaks_per_clip: dict[str, list[np.ndarray]] = {i.name: [] for i in infos}
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(float)

    loader = DataLoader(clips, batch_size=batch_size, shuffle=False)
    with recording(
        model, {info.name: info.module for info in infos if info.kind != "class"}, detach=True
    ) as captured:
        with torch.inference_mode():
            for *inputs, batch_labels in tqdm(loader, desc="activations", disable=not progress, leave=False):
                scores = model(*(x.to(device) for x in inputs))
                captured["class"] = scores
                for info in infos:
                    mean, peak, mean_peak = reduce_response(
                        captured[info.name].float(), info, len(batch_labels)
                    )
                    mean_peaks[info.name] = np.maximum(
                        mean_peaks[info.name], mean_peak.cpu().numpy().max(axis=0)
                    )
                    mean_np = mean.cpu().numpy()
                    peak_np = peak.cpu().numpy()
                    np.add.at(sums[info.name], batch_labels.numpy(), mean_np)
                    peaks[info.name] = np.maximum(peaks[info.name], peak_np.max(axis=0))
                    means_per_clip[info.name].append(mean_np)
                    peaks_per_clip[info.name].append(peak_np)

    result = {}
    for info in infos:
        per_clip = np.concatenate(peaks_per_clip[info.name])  # (clips, units)
        k = min(top_k, len(per_clip))
        order = np.argsort(-per_clip, axis=0, kind="stable")[:k].T  # (units, k)
        result[info.name] = LayerActivations(
            layer=info.name,
            class_means=sums[info.name] / np.maximum(counts, 1)[:, None],
            peaks=peaks[info.name],
            mean_peaks=mean_peaks[info.name],
            top_clips=order,
            top_values=np.take_along_axis(per_clip.T, order, axis=1),
            clip_means=np.concatenate(means_per_clip[info.name]).astype(np.float32),
        )
    return result


def objective_peaks(item: LayerActivations, mode: str) -> np.ndarray:
    """rho per unit for an objective ``mode`` ("centre" or "mean", see engine.objectives)."""
    return item.mean_peaks if mode == "mean" else item.peaks
