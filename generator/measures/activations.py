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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
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


@dataclass(frozen=True)
class LayerShare:
    """One layer's statistics over a share of the clips, kept in the form that merges exactly with
    the other shares' (see :func:`merge_shares`): sums and counts, maxima, top-k candidates and
    per-clip rows, all keyed by the clips' indices in the whole set."""

    layer: str
    sums: np.ndarray  # (classes, units) float64: per-clip ``mean`` responses summed by true class
    counts: np.ndarray  # (classes,): the share's clips of each class
    peaks: np.ndarray  # (units,)
    mean_peaks: np.ndarray  # (units,)
    top_clips: np.ndarray  # (units, k): indices in the whole set, largest ``peak`` first
    top_values: np.ndarray  # (units, k)
    clip_means: np.ndarray  # (clips of the share, units) float32, in the order of ``ShareMeasure.clips``


@dataclass(frozen=True)
class ShareMeasure:
    """What one pass over a share of a set of clips measured."""

    clips: np.ndarray  # (n,) int64: the share's clip indices in the whole set, in the order measured
    layers: dict[str, LayerShare]
    predictions: np.ndarray  # (n,) int64 top-1 class per clip (empty when not asked for)
    forwarded: int  # clips that went through the model in this pass


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


def measure_share(
    model: nn.Module,
    description: ModelDescription,
    clips: Dataset,
    indices: Sequence[int],
    layers: Iterable[str],
    num_classes: int,
    top_k: int = 8,
    predict: bool = False,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> ShareMeasure:
    """One pass of ``model`` over the clips ``indices`` of ``clips`` (items ``(*inputs, label)``, labels
    below ``num_classes``): every selected layer's share statistics and, when ``predict``, the top-1
    class of each clip. A share of a run split over processes; :func:`merge_shares` joins them."""
    infos = [description.layer(name) for name in layers]
    order = np.asarray(indices, dtype=np.int64)
    sums = {i.name: np.zeros((num_classes, i.units)) for i in infos}
    means_per_clip: dict[str, list[np.ndarray]] = {i.name: [] for i in infos}
    peaks_per_clip: dict[str, list[np.ndarray]] = {i.name: [] for i in infos}
    mean_peaks_per_clip: dict[str, list[np.ndarray]] = {i.name: [] for i in infos}
    counts = np.zeros(num_classes, dtype=np.int64)
    predictions: list[np.ndarray] = []
    forwarded = 0

    loader = DataLoader(Subset(clips, order.tolist()), batch_size=batch_size, shuffle=False)
    model.eval()
    with recording(
        model, {info.name: info.module for info in infos if info.kind != "class"}, detach=True
    ) as captured:
        with torch.inference_mode():
            for *inputs, batch_labels in tqdm(loader, desc="activations", disable=not progress, leave=False):
                scores = model(*(x.to(device) for x in inputs))
                forwarded += len(batch_labels)
                labels = batch_labels.numpy()
                counts += np.bincount(labels, minlength=num_classes)
                if predict:
                    predictions.append(scores.argmax(dim=1).cpu().numpy())
                captured["class"] = scores
                for info in infos:
                    mean, peak, mean_peak = (
                        x.cpu().numpy()
                        for x in reduce_response(captured[info.name].float(), info, len(labels))
                    )
                    np.add.at(sums[info.name], labels, mean)
                    means_per_clip[info.name].append(mean)
                    peaks_per_clip[info.name].append(peak)
                    mean_peaks_per_clip[info.name].append(mean_peak)

    shares = {}
    for info in infos:
        shape = (0, info.units)
        per_clip = _rows(peaks_per_clip[info.name], shape)
        top_clips, top_values = _top(per_clip.T, np.broadcast_to(order, per_clip.T.shape), top_k)
        shares[info.name] = LayerShare(
            layer=info.name,
            sums=sums[info.name],
            counts=counts,
            peaks=_column_max(per_clip, info.units),
            mean_peaks=_column_max(_rows(mean_peaks_per_clip[info.name], shape), info.units),
            top_clips=top_clips,
            top_values=top_values,
            clip_means=_rows(means_per_clip[info.name], shape).astype(np.float32),
        )
    predicted = np.concatenate(predictions).astype(np.int64) if predictions else np.zeros(0, dtype=np.int64)
    return ShareMeasure(order, shares, predicted, forwarded)


def merge_shares(
    shares: Sequence[ShareMeasure], top_k: int
) -> tuple[dict[str, LayerActivations], np.ndarray]:
    """The statistics of the whole set from its shares (disjoint, together every clip once, in any
    order), and the predictions in clip order. Sums and counts add, maxima take the maximum, top
    clips are the best ``top_k`` of every share's candidates (ties to the lower clip index), so the
    result is the one a single pass over every clip gives, to float precision of the sums."""
    clips = np.concatenate([share.clips for share in shares])
    order = np.argsort(clips, kind="stable")
    predictions = np.concatenate([share.predictions for share in shares])
    merged = {}
    for name in shares[0].layers if shares else ():
        parts = [share.layers[name] for share in shares]
        counts = np.sum([part.counts for part in parts], axis=0)
        top_clips, top_values = _top(
            np.concatenate([part.top_values for part in parts], axis=1),
            np.concatenate([part.top_clips for part in parts], axis=1),
            top_k,
        )
        merged[name] = LayerActivations(
            layer=name,
            class_means=np.sum([part.sums for part in parts], axis=0) / np.maximum(counts, 1)[:, None],
            peaks=np.max([part.peaks for part in parts], axis=0),
            mean_peaks=np.max([part.mean_peaks for part in parts], axis=0),
            top_clips=top_clips,
            top_values=top_values,
            clip_means=np.concatenate([part.clip_means for part in parts])[order],
        )
    return merged, predictions[order] if len(predictions) else predictions


def collect_activations(
    model: nn.Module,
    description: ModelDescription,
    clips: Dataset,
    layers: Iterable[str],
    top_k: int = 8,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    progress: bool = False,
    num_classes: int | None = None,
) -> dict[str, LayerActivations]:
    """Run ``model`` once over ``clips`` (items ``(*inputs, label)``, labels below ``num_classes``, by
    default the model's class count) and gather every selected layer's statistics."""
    classes = len(description.classes) if num_classes is None else num_classes
    share = measure_share(
        model,
        description,
        clips,
        range(len(clips)),
        layers,
        classes,
        top_k=top_k,
        batch_size=batch_size,
        device=device,
        progress=progress,
    )
    return merge_shares([share], top_k)[0]


def _rows(blocks: list[np.ndarray], empty: tuple[int, int]) -> np.ndarray:
    return np.concatenate(blocks) if blocks else np.zeros(empty, dtype=np.float32)


def _column_max(rows: np.ndarray, units: int) -> np.ndarray:
    """Each unit's largest value over clips; -inf for no clips (the identity of the maximum)."""
    return rows.max(axis=0).astype(np.float64) if len(rows) else np.full(units, -np.inf)


def _top(values: np.ndarray, clips: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row (unit), the ``k`` largest ``values`` and their ``clips``, ties to the lower clip index."""
    order = np.lexsort((clips, -values), axis=-1)[:, : min(k, values.shape[1])]
    return np.take_along_axis(clips, order, axis=1), np.take_along_axis(values, order, axis=1)


def objective_peaks(item: LayerActivations, mode: str) -> np.ndarray:
    """rho per unit for an objective ``mode`` ("centre" or "mean", see engine.objectives)."""
    return item.mean_peaks if mode == "mean" else item.peaks
